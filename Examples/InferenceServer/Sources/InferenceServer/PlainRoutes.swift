import Foundation
import Hummingbird
import NIOCore

/// The same fake engines served the ordinary way, without the vault: the body collected into a
/// `ByteBuffer`, decoded into `String`s with `JSONDecoder`, the output built in arrays. Only
/// for the throughput comparison (`--plain-routes`); never in a zero-retention deployment.
struct PlainRoutes: Sendable {
    private struct SpeechRequest: Decodable {
        let text: String
        let model_id: String?
        let voice_id: String?
    }

    func register(on router: Router<BasicRequestContext>) {
        router.post("/plain/v1/text-to-speech") { request, _ in
            let body = try await request.body.collect(upTo: InferenceRoutes.jsonBodyLimit)
            let speech = try JSONDecoder().decode(SpeechRequest.self, from: Data(buffer: body))
            let audio = speech.text.utf8.map { ~$0 }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: audio)))
        }
        router.post("/plain/v1/speech-to-text") { request, _ in
            let body = try await request.body.collect(upTo: InferenceRoutes.audioBodyLimit)
            let transcript = String(decoding: body.readableBytesView.map { UInt8(ascii: "a") + $0 % 26 }, as: UTF8.self)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"text":"\#(transcript)"}"#)))
        }
    }
}
