// Replays every saved fuzz input through the entry function its fuzz target calls: the seed
// corpora (Fuzz/Corpus/<Target>/) and the regression inputs (Fuzz/FailCases/<Target>/), so an
// input that once crashed or broke a property stays fixed. No libFuzzer here: plain tests.

import Foundation
import Testing

/// One saved input and the target it belongs to.
struct SavedInput: Sendable, CustomTestStringConvertible {
    let target: String
    let folder: String
    let path: String

    var testDescription: String { "\(folder)/\(target)/\(URL(fileURLWithPath: path).lastPathComponent)" }

    static let fuzzRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    /// The target folders under `Fuzz/<folder>/`.
    static func targets(in folder: String) -> [String] {
        let url = fuzzRoot.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { name in
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(
                atPath: url.appendingPathComponent(name).path, isDirectory: &isDirectory)
            return exists && isDirectory.boolValue && !name.hasPrefix(".")
        }.sorted()
    }

    /// Every input under `Fuzz/<folder>/<Target>/`.
    static func all(in folder: String) -> [SavedInput] {
        targets(in: folder).flatMap { target in
            let url = fuzzRoot.appendingPathComponent(folder).appendingPathComponent(target)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map {
                SavedInput(target: target, folder: folder, path: url.appendingPathComponent($0).path)
            }
        }
    }
}

// Serialized: the sealed-chunk entry checks that its vault's pool is empty afterwards, which
// only holds when no other replay shares that vault at the same time.
@Suite(.serialized) struct FuzzReplayTests {
    @Test(arguments: SavedInput.all(in: "FailCases"))
    func failCaseStaysFixed(_ input: SavedInput) throws {
        try replay(input)
    }

    @Test(arguments: SavedInput.all(in: "Corpus"))
    func seedInputPasses(_ input: SavedInput) throws {
        try replay(input)
    }

    /// A misspelt folder would otherwise be skipped silently.
    @Test func everyFolderNamesAFuzzTarget() {
        for folder in ["Corpus", "FailCases"] {
            for target in SavedInput.targets(in: folder) {
                #expect(fuzzEntries[target] != nil, "Fuzz/\(folder)/\(target) names no fuzz entry")
            }
        }
    }

    /// Every target starts from seeds, so the replay covers each entry's accepting path too.
    @Test func everyTargetHasSeeds() {
        let seeded = Set(SavedInput.all(in: "Corpus").map(\.target))
        for target in fuzzEntries.keys.sorted() {
            #expect(seeded.contains(target), "Fuzz/Corpus/\(target) has no seed input")
        }
    }

    private func replay(_ input: SavedInput) throws {
        let entry = try #require(fuzzEntries[input.target], "no fuzz entry named \(input.target)")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: input.path)))
        // `open-<issue>` names an input that shows a reported, still-open library bug.
        let expectsOpenBug = URL(fileURLWithPath: input.path).lastPathComponent.hasPrefix("open-")
        do {
            try entry(bytes)
            if expectsOpenBug {
                Issue.record("\(input.testDescription) passes now: if the bug is fixed, drop the open- prefix and the entry's knownIssue tag")
            }
        } catch where error.knownIssue != nil {
            withKnownIssue("open library bug \(error.knownIssue!)") { throw error }
        } catch {
            Issue.record(error, "\(input.testDescription): \(error.description)")
        }
    }
}
