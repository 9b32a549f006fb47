// What the server runs with when no --policy is given: one ZDR workspace, one that retains,
// the standard eligibility (voice cloning is not ZDR-eligible) and one model per product.

enum DemoPolicy {
    /// Policy.md's format.
    static let json = #"""
    {
      "version": 1,
      "ineligible": "reject",
      "eligibility": { "base": "standard" },
      "zdrModels": {
        "textToSpeech": ["tts-fast"],
        "speechToText": ["stt-fast"],
        "languageModel": ["llm-small"]
      },
      "providers": [],
      "workspaces": [
        { "id": "demo", "zdr": true, "agents": [{ "id": "support-bot" }] },
        { "id": "open", "zdr": false }
      ]
    }
    """#

    /// Models the server serves that no ZDR rule names (they still need declaring in the
    /// ledger's registry, for requests that are accepted with retention).
    static let additionalModels: Set<String> = ["voice-clone"]
}
