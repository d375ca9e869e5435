import ArgumentParser
import Foundation
import SSHAuditStore

extension RetentionPeriod: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// Retention, once: what `record --retain` does periodically.
struct Prune: ParsableCommand, UsesDatabase {
    static let configuration = CommandConfiguration(
        abstract: "Delete sessions that ended before the retention period, with their commands, auth attempts, transfers and events.",
        discussion: "The ledger records the prune (cut-off and ids removed), so `sshaudit verify` still passes.")

    @Option(help: ArgumentHelp(RetentionPeriod.help, valueName: "PERIOD"))
    var retain: RetentionPeriod

    @OptionGroup var database: DatabaseOption

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw StoreError.missing(db) }
        let store = try AuditStore.openForRecording(path: db)
        let result = try store.prune(retaining: retain)
        print(result.summary)
    }
}
