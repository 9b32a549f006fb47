// The reference inference server: Hummingbird 2 with the zero-retention integrations.
//
//   swift run --package-path Examples/InferenceServer inference-server [--port N] …
//
// Routes and fake engines: Examples/InferenceServer/README.md.

import Foundation
import Hummingbird
import Logging
import ZeroRetention
import ZeroRetentionHummingbird
import ZeroRetentionLogging
import ZeroRetentionWebSocket

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("inference-server: \(message)\n".utf8))
    exit(1)
}

guard let configuration = ServerConfiguration(arguments: Array(CommandLine.arguments.dropFirst())) else {
    exit(CommandLine.arguments.contains("--help") || CommandLine.arguments.contains("-h") ? 0 : 2)
}

// Only declared events with declared metadata reach the log; Hummingbird's own records (which
// may carry an error's text) are dropped and counted.
let logDrops = LogDropCounters()
do {
    let schema = try LogSchema(events: ["server.started"], metadata: ["port": .integer])
    LoggingSystem.bootstrap { label in
        DeclaredLogHandler(wrapping: StreamLogHandler.standardError(label: label), schema: schema, drops: logDrops)
    }
} catch {
    fail("log schema: \(error)")
}

// Fail closed at start-up: memory that cannot be locked, a policy or key that cannot be read.
let audited: AuditedVault
do {
    try Vault.installFatalSignalHandlers()
    try Vault.installTerminationHandlers()
    let vault = try Vault(configuration: .init(byteBudget: configuration.budgetMiB << 20))
    let policyDocument = try configuration.policyPath.map { path in [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
        ?? Array(DemoPolicy.json.utf8)
    let policy = try RetentionPolicy(json: policyDocument)
    try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
    let signer: SigningKey
    if configuration.signingKeyPath == nil, !FileManager.default.fileExists(atPath: configuration.signingKey) {
        signer = try SigningKey.generate(name: "inference-server.example/zdr-ledger")
        try signer.save(to: configuration.signingKey)
        try Data((signer.verifierKey + "\n").utf8).write(to: URL(fileURLWithPath: configuration.dataDirectory + "/verifier.key"))
    } else {
        signer = try SigningKey(loadingFrom: configuration.signingKey)
    }
    let registry = IdentifierRegistry(
        declaredBy: policy, additionalModels: Set(DemoPolicy.additionalModels.compactMap(Identifier.init)))
    // What produced the receipts: this binary, this policy, this budget (a self-reported label
    // until bound to an attestation; `zdr ledger verify --expect-binary`).
    let identity = try SoftwareIdentityRecord.current(
        policyDocument: policyDocument, configuration: Array("byteBudget=\(configuration.budgetMiB << 20)".utf8),
        version: ServerConfiguration.version)
    let ledger = try Ledger(
        path: configuration.ledger, registry: registry, signer: signer, configuration: LedgerConfiguration(softwareIdentity: identity))
    audited = AuditedVault(vault: vault, policy: policy, ledger: ledger)
    FileHandle.standardOutput.write(Data("inference-server: verifier key \(signer.verifierKey)\n".utf8))
} catch {
    fail("cannot start: \(error)")
}

let router = Router()
router.add(middleware: ZeroRetentionMiddleware())
InferenceRoutes(audited: audited).register(on: router)
if configuration.plainRoutes { PlainRoutes().register(on: router) }

let webSocketRouter = Router(context: ZeroRetentionWebSocketContext.self)
webSocketRouter.add(middleware: ZeroRetentionMiddleware())
InferenceRoutes(audited: audited).registerWebSocket(on: webSocketRouter)

let app = Application(
    router: router, server: .zeroRetentionHTTP1WebSocketUpgrade(webSocketRouter: webSocketRouter),
    configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
    onServerRunning: { channel in
        // Unbuffered: the test scripts wait for this line to learn the port.
        FileHandle.standardOutput.write(Data("inference-server: listening on \(configuration.host):\(channel.localAddress?.port ?? configuration.port)\n".utf8))
        Logger(label: "inference-server").info("server.started", metadata: ["port": "\(channel.localAddress?.port ?? 0)"])
    })
do {
    try await app.runService()
} catch {
    fail("server stopped: \(type(of: error))")
}
