import Foundation
import PackagePlugin

/// Compiles bpf/sshaudit.bpf.c with the toolchain's clang (-target bpf) and embeds the object in the
/// target as a Swift string, so `swift build` yields one self-contained binary.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let bpfDir = context.package.directoryURL.appending(path: "bpf")
        let source = bpfDir.appending(path: "sshaudit.bpf.c")
        let headers = ["events.h", "kernel_types.h", "tty.bpf.h"].map { bpfDir.appending(path: $0) }
        let script = context.package.directoryURL.appending(path: "Plugins/embed.sh")
        let object = context.pluginWorkDirectoryURL.appending(path: "sshaudit.bpf.o")
        let output = context.pluginWorkDirectoryURL.appending(path: "BPFObject.generated.swift")
        let clang = (try? context.tool(named: "clang").url.path) ?? "clang"
        return [
            .buildCommand(
                displayName: "Compiling kernel programs bpf/sshaudit.bpf.c",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, "bpf", clang, source.path, object.path, output.path],
                inputFiles: [source, script] + headers,
                outputFiles: [output]
            ),
        ]
    }
}
