import Foundation

/// The correlator's state as one Codable value, for the recorder's checkpoints (docs/ARCHITECTURE.md §2, "Pins and resume").
extension Correlator {
    // MARK: - Checkpoints

    /// Everything the correlator knows, so that a restarted recorder goes on exactly where this one
    /// was: fed the same events from here, it emits the same rows with the same ids.
    struct State: Codable {
        var bootToWallNs: Int64
        var nextIDs: RowIDs
        var procs: [ProcessKey: Proc]
        var sessions: [Int64: OpenSession]
        var openCommands: [Int64: CommandRecord]
        var pendingAccept: [ProcessKey: PendingAccept]
        var sessionBySocket: [UInt64: Int64]
        var awaitingBytes: [UInt64: SessionRecord]
        var openTransfers: [FileKey: TransferRecord]
        var userNames: [UInt32: String?]
        var seeded: [UInt32: Proc]
        var unattributedEvents: UInt64
        var overflows: UInt64?
        var unobservedExits: UInt64?
        var fileActivity: FileActivityTable?
        var heldUploads: [HeldUpload: TransferRecord]?
        var unconfirmedSFTP: [UInt32: [TransferRecord]]?
        var network: [NetworkActivity.State]?
        var networkSeen: [NetworkActivity.SeenEntry]?
        var tty: TTYRecorder.State?
        var channels: [Int64: ChannelTable.Open]?
        var countedOnly: [Int64]?
    }

    /// The state as bytes (JSON), for the recorder's checkpoint.
    ///
    /// The JSON of `State`, written a table at a time and each table a chunk of entries at a time:
    /// JSONEncoder's intermediate form takes several times the text it writes, so encoding a large
    /// state whole would cost several times its size at once (README: the bounds).
    public func checkpoint() throws -> Data {
        tty.flushAll()  // a checkpoint holds no terminal bytes: they are in rows before it
        var out = Data()
        out.reserveCapacity(lastCheckpointSize + lastCheckpointSize / 8)
        let encoder = JSONEncoder()
        func field(_ name: String, _ first: Bool = false) { out.append(contentsOf: Array(((first ? "{" : ",") + "\"\(name)\":").utf8)) }
        field("bootToWallNs", true); out.append(try encoder.encode(bootToWallNs))
        field("nextIDs"); out.append(try encoder.encode(nextIDs))
        field("procs"); try Self.appendJSON(procs, to: &out)
        field("sessions"); try Self.appendJSON(sessions, to: &out)
        field("openCommands"); try Self.appendJSON(openCommands, to: &out)
        field("pendingAccept"); try Self.appendJSON(pendingAccept, to: &out)
        field("sessionBySocket"); try Self.appendJSON(sessionBySocket, to: &out)
        field("awaitingBytes"); try Self.appendJSON(awaitingBytes.mapValues(\.record), to: &out)
        field("openTransfers"); try Self.appendJSON(openTransfers, to: &out)
        field("userNames"); try Self.appendJSON(userNames, to: &out)
        field("seeded"); try Self.appendJSON(seeded, to: &out)
        field("unattributedEvents"); out.append(try encoder.encode(unattributedEvents))
        field("overflows"); out.append(try encoder.encode(overflows))
        field("unobservedExits"); out.append(try encoder.encode(unobservedExits))
        field("fileActivity"); out.append(try encoder.encode(files))
        field("heldUploads"); try Self.appendJSON(heldUploads, to: &out)
        field("unconfirmedSFTP"); try Self.appendJSON(unconfirmedSFTP, to: &out)
        field("network"); out.append(try encoder.encode(network.state))
        field("networkSeen"); out.append(try encoder.encode(network.seenState))
        field("tty"); out.append(try encoder.encode(tty.state))
        field("channels"); try Self.appendJSON(channels.open, to: &out)
        field("countedOnly"); out.append(try encoder.encode(countedOnly.sorted()))
        out.append(UInt8(ascii: "}"))
        lastCheckpointSize = out.count
        return out
    }

    /// Appends `table` as JSONEncoder writes a dictionary (an object, or an array of alternating keys
    /// and values), encoding `chunk` entries at a time.
    static func appendJSON<K: Hashable & Encodable, V: Encodable>(_ table: [K: V], to out: inout Data, chunk: Int = 1024) throws {
        let encoder = JSONEncoder()
        guard table.count > chunk else { return out.append(try encoder.encode(table)) }
        var part: [K: V] = [:]
        part.reserveCapacity(chunk)
        var close: UInt8 = 0
        var empty = true
        func flush() throws {
            let text = try encoder.encode(part)  // "{…}" or "[…]"
            part.removeAll(keepingCapacity: true)
            if close == 0 {
                out.append(text[text.startIndex])
                close = text[text.index(before: text.endIndex)]
            }
            let inner = text.dropFirst().dropLast()
            guard !inner.isEmpty else { return }
            if !empty { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: inner)
            empty = false
        }
        for (key, value) in table {
            part[key] = value
            if part.count == chunk { try flush() }
        }
        if !part.isEmpty { try flush() }
        out.append(close)
    }

    /// Replaces the state with a checkpoint's (same build of sshaudit: the layout is not versioned).
    public func restore(_ checkpoint: Data) throws {
        let state = try JSONDecoder().decode(State.self, from: checkpoint)
        bootToWallNs = state.bootToWallNs
        nextIDs = state.nextIDs
        procs = state.procs
        sessions = state.sessions
        openCommands = state.openCommands
        commandBytes = openCommands.values.reduce(0) { $0 + $1.heldBytes }
        pendingAccept = state.pendingAccept
        sessionBySocket = state.sessionBySocket
        awaitingBytes = state.awaitingBytes.mapValues { OpenSession(record: $0) }
        openTransfers = state.openTransfers
        userNames = state.userNames
        seeded = state.seeded
        pathHolders = procs.values.filter { $0.path != nil }.count + seeded.values.filter { $0.path != nil }.count
        unattributedEvents = state.unattributedEvents
        overflows = state.overflows ?? 0
        unobservedExits = state.unobservedExits ?? 0
        files = state.fileActivity ?? FileActivityTable(nextID: state.nextIDs.file)
        heldUploads = state.heldUploads ?? [:]
        unconfirmedSFTP = state.unconfirmedSFTP ?? [:]
        network.restore(state.network ?? [], seen: state.networkSeen ?? [])
        if let t = state.tty { tty.restore(t) }
        channels = ChannelTable(open: state.channels ?? [:])
        countedOnly = Set(state.countedOnly ?? [])
        openSessionsFlagged = false
    }
}
