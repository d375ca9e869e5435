// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "sshaudit",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sshaudit", targets: ["sshaudit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // libbpf from the system (Debian: libbpf-dev).
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        // PostgreSQL's client library from the system (Debian: libpq-dev), for the central database.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // zlib from the system (Debian: zlib1g-dev), to compress terminal recordings.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Acquire/release access to the ring buffer's shared positions.
        .target(name: "CRingBuffer"),
        // The recorder's signal handler (stop, reopen): in place at once, safe in a handler.
        .target(name: "CSignals"),
        // Compiles bpf/*.bpf.c with clang -target bpf and embeds the object in the loader.
        .plugin(name: "BPFObjectPlugin", capability: .buildTool()),
        // Embeds schema/*.sql in the store, so the binary carries its own migrations.
        .plugin(name: "SchemaPlugin", capability: .buildTool()),

        // The kernel programs' record layout (bpf/events.h), header only, for the decoder and the loader.
        .target(name: "CSSHAuditABI"),
        // Pure Swift: event model, decoder, correlator. Testable without a kernel: its only C import is
        // the record layout.
        // Release builds leave out the run-time exclusivity checks here (as Swift's own standard
        // library does): the correlator is one class, driven by one thread, whose state is split over
        // several files, so the optimizer cannot prove its accesses apart and checks each at run time,
        // 2% of replay's instructions (BENCHMARKS.md, "Replay does no more work"). Compile-time
        // checks stay, and debug builds, which the test suite runs, keep the run-time ones.
        .target(
            name: "SSHAuditCore",
            dependencies: ["CSSHAuditABI"],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // Loads and attaches the kernel programs; ring buffer records → decoder.
        .target(
            name: "SSHAuditBPF",
            dependencies: ["CLibBPF", "CRingBuffer", "CSSHAuditABI", "SSHAuditCore"],
            plugins: ["BPFObjectPlugin"]
        ),
        // SQLite: migrations from schema/, batched writes, queries.
        .target(
            name: "SSHAuditStore",
            dependencies: ["SSHAuditCore", "CZlib", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "GRDBSQLite", package: "GRDB.swift"),
                           .product(name: "Crypto", package: "swift-crypto")],
            plugins: ["SchemaPlugin"]
        ),
        // The recorder's pipeline: ring buffer or event log → decoder → correlator → batch writer, with
        // checkpoints, resume, seeding from /proc, signals and its log point. `record` and `replay` use it.
        .target(name: "SSHAuditRecorder", dependencies: ["CSignals", "SSHAuditCore", "SSHAuditBPF", "SSHAuditStore"]),
        // The fleet: shipping to PostgreSQL and checking what was shipped.
        .target(name: "SSHAuditCentral", dependencies: ["CLibPQ", "SSHAuditStore", "SSHAuditCore"]),
        .executableTarget(
            name: "sshaudit",
            dependencies: [
                "SSHAuditCore", "SSHAuditBPF", "SSHAuditStore", "SSHAuditCentral", "SSHAuditRecorder",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SSHAuditCoreTests", dependencies: ["SSHAuditCore", "CSSHAuditABI"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SSHAuditStoreTests", dependencies: ["SSHAuditStore", "SSHAuditCore"]),
        .testTarget(name: "SSHAuditRecorderTests",
                    dependencies: ["SSHAuditRecorder", "SSHAuditBPF", "SSHAuditStore", "SSHAuditCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "IntegrationTests", dependencies: ["CLibBPF", "CSSHAuditABI", "SSHAuditCore", "SSHAuditStore", .product(name: "GRDB", package: "GRDB.swift")]),
    ],
    swiftLanguageModes: [.v5]
)
