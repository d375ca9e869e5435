import Foundation
import GRDB
import SSHAuditCore

/// A session channel as `show` prints it (table channels, schema/0023).
public struct ChannelRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "channels"
    public var id: Int64
    public var sessionID: Int64
    public var seq: Int64
    public var pid: Int64
    @Nullable public var kind: String?
    @Nullable public var tty: String?
    public var startedAt: String
    @Nullable public var endedAt: String?
    @Nullable public var exitCode: Int64?

    /// Its columns, as the table declares them (TableColumns.swift).
    typealias CodingKeys = ChannelColumn
}

/// A channel and the command tree of its processes. JSON: the channel's keys plus "commands".
public struct ChannelNode: Encodable, Sendable {
    public var channel: ChannelRow
    public var commands: [CommandNode]

    enum Keys: String, CodingKey { case commands }

    public func encode(to encoder: Encoder) throws {
        try channel.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(commands, forKey: .commands)
    }
}

extension AuditReader {
    /// One session's channels, in order (empty on a database without the table).
    func channelRows(session id: Int64, _ db: Database) throws -> [ChannelRow] {
        guard schema.contains("channels") else { return [] }
        return try Row.fetchAll(db, sql: "SELECT * FROM channels WHERE session_id = ? ORDER BY seq, id",
                                arguments: [id]).map(ChannelRow.init(row:))
    }

    /// Each channel with the commands of its processes as a tree (`tree`: a command whose parent is
    /// in another channel, sshd's rc files' for instance, is a root of its own channel's tree).
    public static func channelTree(_ channels: [ChannelRow], _ commands: [CommandRow]) -> [ChannelNode] {
        var byChannel: [Int64: [CommandRow]] = [:]
        for c in commands { if let id = c.channelID { byChannel[id, default: []].append(c) } }
        return channels.map { ChannelNode(channel: $0, commands: tree(byChannel[$0.id] ?? [])) }
    }
}

extension AuditStore {
    /// Writes the batch's channel rows (after the sessions': each references its session).
    static func writeChannels(_ batch: RowBatch, _ db: Database, _ tx: inout WriteContext) throws {
        var channels: VersionWriter<ChannelColumn>?
        for case let .channel(c) in batch.outputs {
            if channels == nil { channels = try VersionWriter(db, ChannelColumn.self) }
            try channels!.put(db, id: c.id, final: CorrelatorOutput.channel(c).isFinal, &tx) { r in
                r.int(.id, c.id); r.int(.sessionID, c.sessionID); r.int(.seq, c.seq); r.int(.pid, c.pid)
                r.text(.kind, c.kind); r.text(.tty, c.tty); r.time(.startedAt, c.startedAtNs)
                r.time(.endedAt, c.endedAtNs); r.int(.exitCode, c.exitCode)
            }
        }
    }
}
