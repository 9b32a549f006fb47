// A writer killed with SIGKILL mid-stream must leave a ledger that reopens, verifies and holds
// every record whose flush() had returned. The writer is this test binary itself, re-run with an
// environment variable that turns `ledgerWriterChildProcess` into the writer (fork() is unsafe in
// Swift; spawning /proc/self/exe works in debug and release).

import Foundation
import Testing
@testable import RetentionLedger
import RetentionVocabulary

private let childLedgerVariable = "ZDR_LEDGER_TEST_CHILD_LEDGER"
private let childKeyVariable = "ZDR_LEDGER_TEST_CHILD_KEY"
private let ackPrefix = "ZDR-LEDGER-ACK "

@Suite("Crash safety: a SIGKILLed writer loses no flushed record")
struct CrashTests {
    /// The writer half. Without the environment variable it does nothing (and so passes trivially
    /// in a normal run). With it: appends discard receipts forever, flushing after every 1–3, and
    /// reports on stdout the number of receipts whose flush has returned.
    @Test("(child process) a ledger writer the crash test kills; does nothing alone",
          .enabled(if: ProcessInfo.processInfo.environment[childLedgerVariable] != nil, "the parent test spawns it")) func ledgerWriterChildProcess() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment[childLedgerVariable], let keyPath = environment[childKeyVariable] else { return }
        let configuration = LedgerConfiguration(
            flushIntervalNanoseconds: 2_000_000, checkpointEveryRecords: 64, checkpointIntervalNanoseconds: nil)
        let ledger = try Ledger(path: path, registry: testRegistry, signer: try SigningKey(loadingFrom: keyPath), configuration: configuration)
        let parent = getppid()
        var appended: UInt64 = 0
        while appended < 1_000_000 && getppid() == parent {
            for _ in 0..<(1 + appended % 3) {
                try ledger.append(.discardReceipt(sampleReceipt(request(appended))))
                appended += 1
            }
            try ledger.flush()
            let line = Array("\(ackPrefix)\(appended)\n".utf8)
            _ = line.withUnsafeBytes { write(1, $0.baseAddress!, $0.count) }
        }
    }

    @Test("a SIGKILLed writer keeps every flushed record") func sigkilledWriterKeepsEveryFlushedRecord() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("ledger.zdr")
        let keyPath = directory.file("signer.key")
        let signer = try SigningKey.generate(name: "ledger.example")
        try signer.save(to: keyPath)

        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["--testing-library", "swift-testing", "--filter", "ledgerWriterChildProcess"]
        var environment = ProcessInfo.processInfo.environment
        environment[childLedgerVariable] = path
        environment[childKeyVariable] = keyPath
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()

        // Read acknowledgements until well into the stream, then kill without warning.
        var buffered = ""
        var acknowledged: UInt64 = 0
        func absorb(_ data: Data) {
            buffered += String(decoding: data, as: UTF8.self)
            while let newline = buffered.firstIndex(of: "\n") {
                let line = buffered[..<newline]
                if line.hasPrefix(ackPrefix), let count = UInt64(line.dropFirst(ackPrefix.count)) {
                    acknowledged = max(acknowledged, count)
                }
                buffered.removeSubrange(...newline)
            }
        }
        while acknowledged < 500 {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            absorb(data)
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        // Acknowledgements written before the kill are still in the pipe.
        absorb(output.fileHandleForReading.readDataToEndOfFile())
        #expect(child.terminationReason == .uncaughtSignal)
        #expect(acknowledged >= 500, "writer stopped before it was killed")

        // Reopen as a writer (truncates any torn tail), then verify offline.
        let reopened = try Ledger(path: path, registry: testRegistry, signer: try SigningKey(loadingFrom: keyPath),
                                  configuration: quietConfiguration())
        _ = try reopened.checkpoint()
        try reopened.close()
        let report = try LedgerVerifier.verify(path: path, verifierKey: signer.verifierKey)
        #expect(report.tornTailBytes == 0)
        var receipts: [RequestID] = []
        for entry in try LedgerVerifier.entries(path: path) {
            if case .discardReceipt(let receipt) = entry.record.body { receipts.append(receipt.requestID) }
        }
        #expect(UInt64(receipts.count) >= acknowledged)
        #expect(Array(receipts.prefix(Int(acknowledged))) == (0..<acknowledged).map(request))
    }
}
