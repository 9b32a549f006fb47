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

@Suite("zdr drill: one real request through the vault", .disabled(if: runningUnderSanitizer, sanitizerSkipReason)) struct DrillTests {
    @Test("content is gone after the discard", arguments: ["locked", "auto"])
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

    @Test("reports usage without content") func reportsUsageWithoutContent() throws {
        let content = "Zero data retention drill: ünïcödé counts as characters " + makeCanary()
        let run = try ZDR.run(["drill", "--json"], stdin: Data(content.utf8))
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["bytesRead"] as? Int == content.utf8.count)
        #expect((object["usage"] as? [String: Any])?["characters"] as? Int == content.count)
        let receipt = try #require(object["receipt"] as? [String: Any])
        #expect(receipt["totalBytesHeld"] as? Int == content.utf8.count)
        #expect((receipt["bytesVerifiedZero"] as? Int ?? 0) >= content.utf8.count)
        #expect(receipt["keyDestroyed"] as? Bool == true)
        #expect((object["requestID"] as? String)?.count == 32)
        #expect(!run.wrote("Zero data retention drill"))
    }

    @Test("STT counts bytes") func sttCountsBytes() throws {
        let run = try ZDR.run(["drill", "--product", "stt", "--json"], stdin: Data(repeating: 0xC3, count: 5000))
        #expect(run.status == 0)
        #expect((try run.json()["usage"] as? [String: Any])?["bytes"] as? Int == 5000)
    }

    @Test("empty input is a usage error") func emptyInputIsAUsageError() throws {
        let run = try ZDR.run(["drill"], stdin: Data())
        #expect(run.status == 64)
        #expect(run.err.contains("standard input is empty"))
    }
}

/// The whole path an operator would take: a drill records its receipt, `prove` extracts it,
/// `check-receipt` verifies it. The content never appears in any byte the CLI wrote.
@Suite("zdr drill --ledger: the receipt is recorded and provable", .disabled(if: runningUnderSanitizer, sanitizerSkipReason)) struct DrillLedgerTests {
    @Test("receipt from a drill is provable and content free") func receiptFromADrillIsProvableAndContentFree() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zdr-drill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("signing.key").path
        let ledger = directory.appendingPathComponent("drill.ledger").path
        let bundle = directory.appendingPathComponent("receipt.json").path
        let canary = makeCanary(bytes: 32)

        let keygen = try ZDR.run(["ledger", "keygen", "--out", key, "--name", "drill.test/zdr", "--json"])
        let verifier = try #require(try keygen.json()["verifierKey"] as? String)
        var outputs = [keygen]
        for product in ["tts", "stt", "llm"] {
            let drill = try ZDR.run(["drill", "--product", product, "--ledger", ledger, "--signing-key", key, "--json"],
                                    stdin: Data(canary.utf8))
            #expect(drill.status == 0)
            outputs.append(drill)
        }
        let id = try #require(try outputs[1].json()["requestID"] as? String)
        outputs.append(try ZDR.run(["ledger", "verify", ledger, "--key", verifier]))
        outputs.append(try ZDR.run(["ledger", "show", ledger]))
        outputs.append(try ZDR.run(["ledger", "export", ledger]))
        outputs.append(try ZDR.run(["ledger", "prove", ledger, "--request", id, "--key", verifier, "--out", bundle]))
        let check = try ZDR.run(["ledger", "check-receipt", bundle, "--key", verifier, "--request", id, "--json"])
        outputs.append(check)
        #expect(outputs.allSatisfy { $0.status == 0 })
        #expect(try check.json()["valid"] as? Bool == true)

        // Every byte written: standard streams and files.
        let fragment = Data(canary.prefix(16).utf8)
        for output in outputs {
            #expect(output.stdout.range(of: fragment) == nil)
            #expect(output.stderr.range(of: fragment) == nil)
        }
        // Including the ledger index the writer keeps beside the ledger (drill.ledger.index/).
        for file in try FileManager.default.subpathsOfDirectory(atPath: directory.path) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path, isDirectory: &isDirectory),
                  !isDirectory.boolValue
            else { continue }
            let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
            #expect(bytes.range(of: fragment) == nil, "content found in \(file)")
        }
    }

    @Test("existing ledger without its key is a usage error") func existingLedgerWithoutItsKeyIsAUsageError() throws {
        let fixture = try LedgerFixture()
        defer { fixture.cleanup() }
        let run = try ZDR.run(["drill", "--ledger", fixture.ledgerPath], stdin: Data("abcdefgh".utf8))
        #expect(run.status == 64)
    }
}
