import Foundation
import PackagePlugin

/// Embeds schema/NNNN_*.sql (in name order) in the store target as its list of migrations.
@main
struct SchemaPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let schemaDir = context.package.directoryURL.appending(path: "schema")
        let files = try FileManager.default.contentsOfDirectory(atPath: schemaDir.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
            .map { schemaDir.appending(path: $0) }
        let script = context.package.directoryURL.appending(path: "Plugins/embed.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "Migrations.generated.swift")
        return [
            .buildCommand(
                displayName: "Embedding schema migrations",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, "sql", output.path] + files.map(\.path),
                inputFiles: files + [script],
                outputFiles: [output]
            ),
        ]
    }
}
