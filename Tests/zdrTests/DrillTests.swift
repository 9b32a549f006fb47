import Foundation
import Testing

/// A `zdr drill --hold` running in the background, fed `content` on standard input.
final class HoldingDrill {
    let process = Process()
    private let output = Pipe()
    private let inputFiles: StreamFiles
    private(set) var stdout = Data()

    init(content: String, arguments: [String]) throws {
        process.executableURL = ZDR.executable
        process.arguments = ["drill", "--hold", "120"] + arguments
        // Standard input from a file: a pipe's write end could leak into a sibling child and
        // hold off the EOF the drill reads to.
        inputFiles = try StreamFiles(stdin: Data(content.utf8))
        process.standardInput = try FileHandle(forReadingFrom: inputFiles.input)
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The drill prints its summary before it starts holding.
        while !String(decoding: stdout, as: UTF8.self).contains("holding for") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            stdout.append(chunk)
        }
    }

    var pid: Int32 { process.processIdentifier }
    var text: String { String(decoding: stdout, as: UTF8.self) }

    func stop() {
        // SIGKILL: the test runner's signal mask (inherited by children) may block SIGTERM.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        stop()
        inputFiles.remove()
    }
}

@Suite struct DrillTests {
    @Test(arguments: ["locked", "auto"])
    func contentIsGoneAfterTheDiscard(backend: String) throws {
        let canary = makeCanary(bytes: 40)
        let needle = try temporaryFile(canary)
        defer { try? FileManager.default.removeItem(at: needle) }
        let drill = try HoldingDrill(content: canary, arguments: ["--backend", backend])
        defer { drill.stop() }
        #expect(drill.text.contains("pid \(drill.pid)"))
        #expect(drill.text.contains("content: \(canary.utf8.count) bytes"))

        let scan = try ZDR.run(["scan", "--pid", "\(drill.pid)", "--needle-file", needle.path, "--json"])
        #expect(scan.status == 0)
        let report = try scan.json()
        #expect(report["matchCount"] as? Int == 0)
        #expect((report["bytesScanned"] as? Int ?? 0) > 0)
        if drill.text.contains("backend secretmem") {
            let regions = try #require(report["regions"] as? [String: Any])
            #expect((regions["secretmem"] as? Int ?? 0) >= 1)
        }
        #expect(!drill.text.contains(canary.prefix(16)))
        #expect(!scan.wrote(canary.prefix(16)))
    }

    @Test func reportsUsageWithoutContent() throws {
        let content = "Zero data retention drill: ünïcödé counts as characters " + makeCanary()
        let run = try ZDR.run(["drill", "--json"], stdin: Data(content.utf8))
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["bytesRead"] as? Int == content.utf8.count)
        #expect((object["usage"] as? [String: Any])?["characters"] as? Int == content.count)
        #expect((object["bytesVerifiedZero"] as? Int ?? 0) >= content.utf8.count)
        #expect((object["requestID"] as? String)?.count == 32)
        #expect(!run.wrote("Zero data retention drill"))
    }

    @Test func sttCountsBytes() throws {
        let run = try ZDR.run(["drill", "--product", "stt", "--json"], stdin: Data(repeating: 0xC3, count: 5000))
        #expect(run.status == 0)
        #expect((try run.json()["usage"] as? [String: Any])?["bytes"] as? Int == 5000)
    }

    @Test func emptyInputIsAUsageError() throws {
        let run = try ZDR.run(["drill"], stdin: Data())
        #expect(run.status == 64)
        #expect(run.err.contains("standard input is empty"))
    }
}
