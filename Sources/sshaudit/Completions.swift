import ArgumentParser

/// Shell completion scripts, generated from the argument parser's own description of the commands:
///   sshaudit completions bash > /etc/bash_completion.d/sshaudit
///   sshaudit completions zsh > "${fpath[1]}/_sshaudit"
///   sshaudit completions fish > ~/.config/fish/completions/sshaudit.fish
struct Completions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a shell completion script (bash, zsh or fish).")

    @Argument(help: "The shell: bash, zsh or fish.")
    var shell: CompletionShell

    func run() throws {
        writeOut(SSHAudit.completionScript(for: shell))
    }
}

extension CompletionShell: @retroactive ExpressibleByArgument {}
