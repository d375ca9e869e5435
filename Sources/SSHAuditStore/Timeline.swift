import Foundation
import GRDB

/// One session as `sshaudit show` tells it: the connection, its authentication attempts, the command
/// tree (children under the command of their nearest ancestor process), its file transfers and its
/// other events. Every part is read through the (session_id, …) index of its table.
public struct SessionTimeline: Encodable, Sendable {
    public var session: SessionRow
    public var auth: [AuthRow]
    /// Commands without a parent in this session, oldest first; each with its children.
    public var commands: [CommandNode]
    public var transfers: [TransferRow]
    public var events: [SessionEventRow]
    /// What its processes changed in the file system (file_activity), oldest first.
    public var files: [FileActivityRow] = []
    /// Network activity of its processes (network_activity), oldest first.
    public var network: [NetworkRow] = []
    /// Its channels in order (channels), each with the command tree of its processes; commands
    /// outside any channel (rows from before schema 0023) are only in `commands`.
    public var channels: [ChannelNode] = []
    /// The session's terminal recording (record --tty), nil if none: set by the reader's caller.
    public var ttyRecording: TTYRecordingSummary?

    public init(session: SessionRow, auth: [AuthRow], commands: [CommandNode], transfers: [TransferRow], events: [SessionEventRow],
                files: [FileActivityRow] = []) {
        (self.session, self.auth, self.commands, self.transfers, self.events) = (session, auth, commands, transfers, events)
        self.files = files
    }

    enum CodingKeys: String, CodingKey {
        case session, auth, commands, transfers, events, files, network, channels
        case ttyRecording = "tty_recording"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(session, forKey: .session)
        try c.encode(auth, forKey: .auth)
        try c.encode(commands, forKey: .commands)
        try c.encode(transfers, forKey: .transfers)
        try c.encode(events, forKey: .events)
        try c.encode(files, forKey: .files)
        try c.encode(network, forKey: .network)
        try c.encode(channels, forKey: .channels)
        try c.encode(ttyRecording, forKey: .ttyRecording)  // null when there is none
    }

    /// Every command, parents before children (depth-first, each level oldest first), with its depth.
    public var flattenedCommands: [(depth: Int, command: CommandRow)] { Self.flatten(commands) }

    /// `forest` flattened the same way.
    public static func flatten(_ forest: [CommandNode]) -> [(depth: Int, command: CommandRow)] {
        var out: [(Int, CommandRow)] = []
        var stack: [(Int, CommandNode)] = forest.reversed().map { (0, $0) }
        while let (depth, node) = stack.popLast() {
            out.append((depth, node.command))
            stack += node.children.reversed().map { (depth + 1, $0) }
        }
        return out
    }
}

/// A command and the commands started under it. JSON: the command's own keys plus "children".
public struct CommandNode: Encodable, Sendable {
    public var command: CommandRow
    public var children: [CommandNode]

    enum ChildKeys: String, CodingKey { case children }

    public func encode(to encoder: Encoder) throws {
        try command.encode(to: encoder)
        var c = encoder.container(keyedBy: ChildKeys.self)
        try c.encode(children, forKey: .children)
    }
}

extension AuditReader {
    public func timeline(session id: Int64) throws -> SessionTimeline {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE id = ?", arguments: [id]) else {
                throw QueryError.noSession(id, path)
            }
            let auth = try Row.fetchAll(db, sql: "SELECT * FROM auth_attempts WHERE session_id = ? ORDER BY at, id",
                                        arguments: [id]).map(AuthRow.init(row:))
            let commands = try Row.fetchAll(db, sql: "SELECT * FROM commands WHERE session_id = ? ORDER BY started_at, id",
                                            arguments: [id]).map(CommandRow.init(row:))
            let transfers = has("file_transfers") ? try Row.fetchAll(db, sql: """
                SELECT * FROM file_transfers WHERE session_id = ? ORDER BY opened_at, id
                """, arguments: [id]).map(TransferRow.init(row:)) : []
            let events = has("session_events") ? try Row.fetchAll(db, sql: """
                SELECT * FROM session_events WHERE session_id = ? ORDER BY at, id
                """, arguments: [id]).map(SessionEventRow.init(row:)) : []
            let files = has("file_activity") ? try Row.fetchAll(db, sql: """
                SELECT * FROM file_activity WHERE session_id = ? ORDER BY first_at, id
                """, arguments: [id]).map(FileActivityRow.init(row:)) : []
            var timeline = SessionTimeline(session: try SessionRow(row: row), auth: auth, commands: Self.tree(commands),
                                           transfers: transfers, events: events, files: files)
            timeline.network = try networkRows(session: id, db)
            timeline.channels = Self.channelTree(try channelRows(session: id, db), commands)
            return timeline
        }
    }

    /// Builds the forest from parent_id (a parent outside the session, or missing, makes a root).
    /// `commands` are in time order, so each list of children is too.
    public static func tree(_ commands: [CommandRow]) -> [CommandNode] {
        let ids = Set(commands.map(\.id))
        var children: [Int64: [Int]] = [:]
        var roots: [Int] = []
        for (i, c) in commands.enumerated() {
            if let parent = c.parentID, parent != c.id, ids.contains(parent) {
                children[parent, default: []].append(i)
            } else {
                roots.append(i)
            }
        }
        // Depth-first without recursion; a cycle (corrupt parent ids) cannot loop: each row is used once.
        var used = Set<Int>()
        func build(_ index: Int) -> CommandNode {
            var nodes: [Int: CommandNode] = [:]
            var order: [Int] = []
            var stack = [index]
            while let i = stack.popLast() {
                guard used.insert(i).inserted else { continue }
                order.append(i)
                stack += children[commands[i].id] ?? []
            }
            for i in order.reversed() {
                let kids = (children[commands[i].id] ?? []).compactMap { nodes.removeValue(forKey: $0) }
                nodes[i] = CommandNode(command: commands[i], children: kids)
            }
            return nodes[index] ?? CommandNode(command: commands[index], children: [])
        }
        var forest = roots.map(build)
        // Rows only reachable through a cycle become roots too, so that none is lost.
        for i in commands.indices where !used.contains(i) { forest.append(build(i)) }
        return forest
    }
}
