// Writing a policy back in its JSON format, so a CLI can show the policy it loaded and a host
// that builds its policy in Swift can export it for review. Every string written is an
// identifier or a fixed name, none of which need escaping.

import RetentionVocabulary

extension RetentionPolicy {
    /// The policy in the format ``init(json:)`` reads, deterministic for equal policies: products
    /// and classes in raw-value order, workspaces, agents and providers in declaration order,
    /// models sorted. Loading it gives back an equal policy.
    public var jsonRepresentation: String {
        var lines = [
            "{",
            "  \"version\": \(Self.configurationVersion),",
            "  \"ineligible\": \(quoted(ineligibleHandling.description)),",
        ]

        lines.append("  \"eligibility\": {")
        if eligibility == Self.standardEligibility {
            lines.append("    \"base\": \"standard\"")
        } else {
            lines.append("    \"base\": \"none\",")
            let entries = Product.allCases.compactMap { product -> String? in
                let classes = eligibility.eligibleClasses(for: product)
                guard !classes.isEmpty else { return nil }
                let names = classes.sorted { $0.rawValue < $1.rawValue }.map(\.policyName)
                return "      \(quoted(product.policyName)): \(list(names))"
            }
            lines.append(entries.isEmpty ? "    \"allow\": {}" : "    \"allow\": {")
            if !entries.isEmpty {
                lines.append(entries.joined(separator: ",\n"))
                lines.append("    }")
            }
        }
        lines.append("  },")

        let models = Product.allCases.compactMap { product -> String? in
            guard let allowed = zdrModels[product] else { return nil }
            return "    \(quoted(product.policyName)): \(list(allowed.sorted().map(\.value)))"
        }
        lines.append(models.isEmpty ? "  \"zdrModels\": {}," : "  \"zdrModels\": {")
        if !models.isEmpty {
            lines.append(models.joined(separator: ",\n"))
            lines.append("  },")
        }

        let providerLines = providers.map { provider in
            let modes = TransferMode.allCases.filter { provider.zdrCoverage.contains($0) }.map(\.policyName)
            return "    { \"id\": \(quoted(provider.id.value)), \"zdrCoverage\": \(list(modes)) }"
        }
        lines.append(providerLines.isEmpty ? "  \"providers\": []," : "  \"providers\": [")
        if !providerLines.isEmpty {
            lines.append(providerLines.joined(separator: ",\n"))
            lines.append("  ],")
        }

        let workspaceLines = workspaces.map { workspace in
            let agents = workspace.agents.map { agent in
                let zdr = agent.zdr.map { ", \"zdr\": \($0)" } ?? ""
                return "{ \"id\": \(quoted(agent.id.value))\(zdr) }"
            }
            return "    { \"id\": \(quoted(workspace.id.value)), \"zdr\": \(workspace.zdr), "
                + "\"agents\": [\(agents.joined(separator: ", "))] }"
        }
        lines.append(workspaceLines.isEmpty ? "  \"workspaces\": []" : "  \"workspaces\": [")
        if !workspaceLines.isEmpty {
            lines.append(workspaceLines.joined(separator: ",\n"))
            lines.append("  ]")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}

// Only identifiers (`a-z 0-9 . _ -`) and fixed names reach these, so quoting needs no escapes.
private func quoted(_ text: String) -> String { "\"\(text)\"" }

private func list(_ items: [String]) -> String {
    "[" + items.map(quoted).joined(separator: ", ") + "]"
}
