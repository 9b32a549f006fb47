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

    @Test("--needles looks for every line's needle in one pass and says how many were found")
    func manyNeedlesInOnePass() throws {
        let held = makeCanary()
        let others = (0..<200).map { _ in makeCanary() }
        // CRLF on one line, an empty line, no newline at the end: all accepted.
        let list = others[0] + "\r\n\n" + held + "\n" + others.dropFirst().joined(separator: "\n")
        let needles = try temporaryFile(list)
        defer { try? FileManager.default.removeItem(at: needles) }
        let holder = try CanaryHolder(holding: held)
        defer { holder.finish() }

        let run = try ZDR.run(["scan", "--pid", "\(holder.pid)", "--needles", needles.path, "--json"])
        #expect(run.status == 1)
        let object = try run.json()
        #expect((object["needles"] as? [[String: Any]])?.count == 201)
        #expect(object["needlesFound"] as? Int == 1)
        let matches = try #require(object["matches"] as? [[String: Any]])
        #expect(matches.allSatisfy { $0["needle"] as? Int == 1 })
        let human = try ZDR.run(["scan", "--pid", "\(holder.pid)", "--needles", needles.path])
        #expect(human.out.contains("201 needles"))
        #expect(human.out.contains("1 of 201 needles found"))
        #expect(!run.wrote(held.prefix(16)) && !human.wrote(held.prefix(16)))
        #expect(!run.wrote(others[5].prefix(16)))
    }

    @Test("--needles refuses a short line by its number, without echoing it")
    func needleListNamesTheBadLine() throws {
        let needles = try temporaryFile(makeCanary() + "\nshort\n" + makeCanary())
        defer { try? FileManager.default.removeItem(at: needles) }
        let run = try ZDR.run(["scan", "--pid", "1", "--needles", needles.path])
        #expect(run.status == 2)
        #expect(run.err.contains("needle on line 2 is 5 bytes"))
        #expect(!run.wrote("short"))
        let empty = try temporaryFile("\n\n")
        defer { try? FileManager.default.removeItem(at: empty) }
        let none = try ZDR.run(["scan", "--pid", "1", "--needles", empty.path])
        #expect(none.status == 2)
        #expect(none.err.contains("has no needles"))
    }

    @Test("exactly one of --needle-file and --needles", arguments: [[], ["--needle-file", "/dev/null", "--needles", "/dev/null"]])
    func exactlyOneNeedleSource(extra: [String]) throws {
        let run = try ZDR.run(["scan", "--pid", "1"] + extra)
        #expect(run.status == 64)
        #expect(run.err.contains("exactly one of --needle-file and --needles"))
    }
}
