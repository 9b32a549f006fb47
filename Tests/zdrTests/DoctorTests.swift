import Foundation
import Testing

@Suite("zdr doctor: the report") struct DoctorTests {
    static let expectedChecks = [
        "memfd_secret", "memlock", "core_dumps", "swap", "transparent_hugepages", "ptrace_scope",
        "dumpable", "kernel",
    ]

    @Test("JSON has every check and a consistent verdict") func jsonHasEveryCheckAndAConsistentVerdict() throws {
        let run = try ZDR.run(["doctor", "--json"])
        let object = try run.json()
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.compactMap { $0["id"] as? String } == Self.expectedChecks)
        let statuses = checks.compactMap { $0["status"] as? String }
        #expect(statuses.count == checks.count)
        #expect(statuses.allSatisfy { ["pass", "warn", "fail"].contains($0) })
        for check in checks {
            #expect(check["detail"] is String)
            // Every problem comes with a fix.
            if check["status"] as? String != "pass" { #expect(check["fix"] is String) }
        }
        let expected: Int32 = statuses.contains("fail") ? 2 : statuses.contains("warn") ? 1 : 0
        #expect(run.status == expected)
        #expect(object["exitCode"] as? Int == Int(expected))
        #expect(object["status"] as? String == ["ready", "degraded", "unsafe"][Int(expected)])
        #expect(object["kernel"] is String)
    }

    @Test("human output lists every check") func humanOutputListsEveryCheck() throws {
        let run = try ZDR.run(["doctor"])
        for id in Self.expectedChecks { #expect(run.out.contains(id)) }
        #expect(run.out.contains("result: "))
        #expect([0, 1, 2].contains(run.status))
    }

    @Test("memlock budget beyond the limit is reported") func memlockBudgetBeyondTheLimitIsReported() throws {
        let run = try ZDR.run(["doctor", "--json", "--memlock-budget", "1T"])
        let checks = try #require(try run.json()["checks"] as? [[String: Any]])
        let memlock = try #require(checks.first { $0["id"] as? String == "memlock" })
        #expect((memlock["detail"] as? String)?.contains("1.0 TiB") == true)
    }
}
