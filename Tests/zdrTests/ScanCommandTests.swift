import Foundation
import Testing

@Suite("zdr scan: another process's memory, from outside", .disabled(if: runningUnderSanitizer, sanitizerSkipReason)) struct ScanCommandTests {
    @Test("finds canary in another process and exits one") func findsCanaryInAnotherProcessAndExitsOne() throws {
        let canary = makeCanary()
        let needle = try temporaryFile(canary + "\n")
        defer { try? FileManager.default.removeItem(at: needle) }
        let holder = try CanaryHolder(holding: canary)
        defer { holder.finish() }

        let run = try ZDR.run(["scan", "--pid", "\(holder.pid)", "--needle-file", needle.path, "--json"])
        #expect(run.status == 1)
        let object = try run.json()
        let matches = try #require(object["matches"] as? [[String: Any]])
        #expect(!matches.isEmpty)
        // At least one whole copy (the shell variable) is found, with region and offset.
        let whole = matches.filter { $0["length"] as? Int == canary.utf8.count && $0["needleOffset"] as? Int == 0 }
        #expect(!whole.isEmpty)
        let region = try #require(whole.first?["region"] as? [String: Any])
        #expect(region["permissions"] as? String == "rw-p")
        #expect(whole.first?["offset"] is Int)
        #expect(!run.wrote(canary))
        #expect(!run.wrote(canary.prefix(16)))
    }

    @Test("human output reports the match without content") func humanOutputReportsTheMatchWithoutContent() throws {
        let canary = makeCanary()
        let needle = try temporaryFile(canary)
        defer { try? FileManager.default.removeItem(at: needle) }
        let holder = try CanaryHolder(holding: canary)
        defer { holder.finish() }

        let run = try ZDR.run(["scan", "--pid", "\(holder.pid)", "--needle-file", needle.path])
        #expect(run.status == 1)
        #expect(run.out.contains("NEEDLE BYTES"))
        #expect(run.out.contains("match(es)"))
        #expect(!run.wrote(canary.prefix(16)))
    }

    @Test("clean process exits zero") func cleanProcessExitsZero() throws {
        let canary = makeCanary()
        let needle = try temporaryFile(canary)
        defer { try? FileManager.default.removeItem(at: needle) }
        let holder = try CanaryHolder(holding: nil)
        defer { holder.finish() }

        let run = try ZDR.run(["scan", "--pid", "\(holder.pid)", "--needle-file", needle.path, "--json"])
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["matchCount"] as? Int == 0)
        let regions = try #require(object["regions"] as? [String: Any])
        #expect((regions["scanned"] as? Int ?? 0) > 0)
        #expect((object["bytesScanned"] as? Int ?? 0) > 0)
        #expect(!run.wrote(canary))
    }

    @Test("keep newline makes the newline part of the needle") func keepNewlineMakesTheNewlinePartOfTheNeedle() throws {
        // The holder's shell variable has no newline after the canary, but its input buffer
        // does: with --keep-newline only copies followed by "\n" match in full.
        let canary = makeCanary()
        let needle = try temporaryFile(canary + "\n")
        defer { try? FileManager.default.removeItem(at: needle) }
        let holder = try CanaryHolder(holding: canary)
        defer { holder.finish() }

        let run = try ZDR.run(["scan", "--pid", "\(holder.pid)", "--needle-file", needle.path, "--keep-newline", "--json"])
        let needles = try #require(try run.json()["needles"] as? [[String: Any]])
        #expect(needles.first?["length"] as? Int == canary.utf8.count + 1)
    }

    @Test("missing process is a failure") func missingProcessIsAFailure() throws {
        let needle = try temporaryFile(makeCanary())
        defer { try? FileManager.default.removeItem(at: needle) }
        let run = try ZDR.run(["scan", "--pid", "2147483646", "--needle-file", needle.path])
        #expect(run.status == 2)
        #expect(run.err.contains("no process with pid 2147483646"))
    }

    @Test("short needle is refused") func shortNeedleIsRefused() throws {
        let needle = try temporaryFile("short")
        defer { try? FileManager.default.removeItem(at: needle) }
        let run = try ZDR.run(["scan", "--pid", "1", "--needle-file", needle.path])
        #expect(run.status == 2)
        #expect(run.err.contains("at least 8"))
        #expect(!run.wrote("short"))
    }

    @Test("missing needle file is a failure") func missingNeedleFileIsAFailure() throws {
        let run = try ZDR.run(["scan", "--pid", "1", "--needle-file", "/nonexistent/zdr-needle"])
        #expect(run.status == 2)
        #expect(run.err.contains("ENOENT"))
    }
}
