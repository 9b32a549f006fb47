import Foundation
import Testing

@Suite struct SelftestTests {
    @Test func cleanRunExitsZeroWithNoResidue() throws {
        let run = try ZDR.run(["selftest", "--requests", "4", "--json"])
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["result"] as? String == "pass")
        let requests = try #require(object["requests"] as? [String: Any])
        #expect(requests["tts"] as? Int == 4 && requests["stt"] as? Int == 4 && requests["llm"] as? Int == 4)
        #expect(requests["total"] as? Int == 12)
        let residue = try #require(object["residue"] as? [String: Any])
        #expect(residue["matches"] as? Int == 0)
        let vault = try #require(object["vault"] as? [String: Any])
        let bytesIn = try #require(vault["bytesIn"] as? Int)
        #expect(bytesIn > 0)
        #expect((vault["bytesWiped"] as? Int ?? 0) >= bytesIn)
        #expect(vault["bytesVerifiedZero"] as? Int == vault["bytesWiped"] as? Int)
        let scan = try #require(object["scan"] as? [String: Any])
        #expect((scan["bytesScanned"] as? Int ?? 0) > 0)
        #expect(["secretmem", "locked"].contains(object["backend"] as? String))
    }

    /// The positive control plants one copy of content in the heap: the scan must find it, or
    /// a clean result would mean nothing.
    @Test(arguments: ["locked", "auto"])
    func positiveControlIsFound(backend: String) throws {
        let run = try ZDR.run(["selftest", "--requests", "2", "--backend", backend, "--positive-control", "--json"])
        #expect(run.status == 1)
        let object = try run.json()
        #expect(object["result"] as? String == "residue")
        let residue = try #require(object["residue"] as? [String: Any])
        #expect((residue["matches"] as? Int ?? 0) >= 1)
        let locations = try #require(residue["locations"] as? [[String: Any]])
        #expect(locations.first?["offset"] is Int)
    }

    @Test func lockedBackendScansTheVaultRegions() throws {
        let run = try ZDR.run(["selftest", "--requests", "2", "--backend", "locked", "--json"])
        #expect(run.status == 0)
        let object = try run.json()
        #expect(object["backend"] as? String == "locked")
        let scan = try #require(object["scan"] as? [String: Any])
        #expect(scan["regionsSecretmem"] as? Int == 0)
    }

    @Test func humanOutputSummarizes() throws {
        let run = try ZDR.run(["selftest", "--requests", "2"])
        #expect(run.status == 0)
        for label in ["backend", "requests:", "wiped:", "scanned:", "residue:", "time:", "result:"] {
            #expect(run.out.contains(label))
        }
        #expect(run.out.contains("PASS"))
    }
}
