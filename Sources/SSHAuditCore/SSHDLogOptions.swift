/// Where an sshd sends its log, from its command line: `-E FILE` appends it to a file, `-e` (or `-d`)
/// writes it to standard error, otherwise it goes to syslog. The kernel programs read sshd's log only
/// on these channels (bpf/events.h, SA_LOG_*).
public struct SSHDLogOptions: Equatable, Sendable {
    /// The -E file as given (relative to sshd's working directory at start unless absolute).
    public var logFile: String?
    /// The log goes to fd 2.
    public var stderr: Bool

    public init(logFile: String? = nil, stderr: Bool = false) {
        self.logFile = logFile
        self.stderr = stderr
    }

    /// sshd's options that take an argument (the same getopt string from OpenSSH 7.x to 10.x).
    private static let withArgument: Set<Character> = ["C", "E", "b", "c", "f", "g", "h", "k", "o", "p", "u"]

    /// Parses argv (argv[0] first) as sshd's getopt does: clustered flags (`-De`), an option's
    /// argument attached (`-E/var/log/sshd.log`) or in the next word, the last -E winning, `--` ending
    /// the options. With -E the log goes to the file even if -e or -d is given too.
    public init(arguments argv: [String]) {
        var logFile: String?
        var toStderr = false
        var i = 1
        scan: while i < argv.count {
            let word = argv[i]
            i += 1
            if word == "--" { break }
            guard word.hasPrefix("-"), word.count > 1 else { continue }  // getopt permutes: skip non-options
            let letters = Array(word.dropFirst())
            for (j, letter) in letters.enumerated() {
                if Self.withArgument.contains(letter) {
                    var value: String?
                    if j + 1 < letters.count {
                        value = String(letters[(j + 1)...])
                    } else if i < argv.count {
                        value = argv[i]
                        i += 1
                    }
                    if letter == "E", let value { logFile = value }
                    continue scan
                }
                if letter == "e" || letter == "d" { toStderr = true }
            }
        }
        self.logFile = logFile
        self.stderr = toStderr && logFile == nil
    }

    /// argv as far as a running listener's process title tells it: sshd rewrites /proc/PID/cmdline to
    /// "sshd: /usr/sbin/sshd -D -E /var/log/sshd.log [listener] 0 of 10-100 startups" (its arguments
    /// joined by spaces, so an argument with a space in it cannot be told apart). A cmdline that was
    /// not rewritten (several words) is argv already.
    public static func argv(fromTitle cmdline: [String]) -> [String] {
        guard cmdline.count == 1, let title = cmdline.first, let colon = title.range(of: ": ") else { return cmdline }
        var rest = title[colon.upperBound...]
        if let listener = rest.range(of: " [listener]", options: .backwards) { rest = rest[..<listener.lowerBound] }
        return rest.split(separator: " ").map(String.init)
    }
}
