import CSSHAuditABI
import XCTest
@testable import SSHAuditCore

/// Network activity: the kernel's SA_EV_NET records decoded, and aggregated by the correlator per
/// (process, command, operation, endpoint) on a stream recorded from real sshd
/// (Fixtures/record-fixtures-network.sh), within its bound.
final class NetworkCorrelationTests: XCTestCase {
    /// struct sa_net (bpf/events.h).
    func netRecord(op: UInt32, result: Int32 = 0, family: UInt16, type: UInt16 = 1, proto: UInt16 = 6, port: UInt16 = 0,
                   addr: [UInt8] = [], path: [UInt8] = [], flags: UInt32 = 0) -> [UInt8] {
        var net = sa_net()
        net.h = KernelRecord.header(SA_EV_NET.rawValue, comm: "bash")
        net.op = op
        net.result = result
        net.family = family
        net.sock_type = type
        net.protocol = proto
        net.port = port
        KernelRecord.put(addr, into: &net.addr)
        net.path_len = UInt32(path.count)
        net.flags = flags
        KernelRecord.put(path, into: &net.path)
        return KernelRecord.bytes(net)
    }

    func testDecodesNetworkRecords() throws {
        let v4 = try EventDecoder.decode(netRecord(op: 1, result: -115, family: 2, port: 443, addr: [203, 0, 113, 9]))
        XCTAssertEqual(v4.kind, .network(NetworkCall(operation: .connect, result: -115, family: 2, socketType: 1, ipProtocol: 6,
                                                     endpoint: Endpoint(address: "203.0.113.9", port: 443), path: nil, fromCaller: false)))
        let v6 = try EventDecoder.decode(netRecord(op: 2, family: 10, type: 2, proto: 17, port: 53,
                                                   addr: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]))
        XCTAssertEqual(v6.kind, .network(NetworkCall(operation: .bind, result: 0, family: 10, socketType: 2, ipProtocol: 17,
                                                     endpoint: Endpoint(address: "2001:db8::1", port: 53), path: nil, fromCaller: false)))
        let refused = try EventDecoder.decode(netRecord(op: 1, result: -2, family: 1, proto: 0, path: Array("/run/x.sock".utf8), flags: 1))
        XCTAssertEqual(refused.kind, .network(NetworkCall(operation: .connect, result: -2, family: 1, socketType: 1, ipProtocol: 0,
                                                          endpoint: nil, path: "/run/x.sock", fromCaller: true)))
        // An abstract name: a NUL byte, then the name.
        let abstract = try EventDecoder.decode(netRecord(op: 3, family: 1, proto: 0, path: [0] + Array("hidden".utf8)))
        guard case let .network(call) = abstract.kind else { return XCTFail("\(abstract.kind)") }
        XCTAssertEqual(call.path, "@hidden")
        XCTAssertEqual(call.op, .listen)

        var short = netRecord(op: 1, family: 2)
        short.removeLast(8)
        XCTAssertThrowsError(try EventDecoder.decode(short)) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .truncated(type: 15, size: 192))
        }
        // A send, its key after the record (SA_NET_SEEN); a record that says so but ends early is truncated.
        let key = (0..<MemoryLayout<sa_file_seen_key>.size).map { UInt8($0) }
        let sent = try EventDecoder.decode(netRecord(op: 4, family: 2, type: 2, proto: 17, port: 53, addr: [192, 0, 2, 1], flags: 3) + key)
        XCTAssertEqual(sent.kind, .network(NetworkCall(operation: .send, result: 0, family: 2, socketType: 2, ipProtocol: 17,
                                                       endpoint: Endpoint(address: "192.0.2.1", port: 53), path: nil,
                                                       fromCaller: true, seenKey: key)))
        XCTAssertThrowsError(try EventDecoder.decode(netRecord(op: 4, family: 2, flags: 2) + key.dropLast()))
        XCTAssertThrowsError(try EventDecoder.decode(netRecord(op: 9, family: 2)))
        XCTAssertThrowsError(try EventDecoder.decode(netRecord(op: 1, family: 16)))  // netlink: never sent
    }

    static func networkRows(_ outputs: [CorrelatorOutput]) -> [Int64: NetworkRecord] {
        var rows: [Int64: NetworkRecord] = [:]
        for case let .network(n) in outputs { rows[n.id] = n }
        return rows
    }

    /// The recorded session: the shell's two /dev/tcp connects are one row counted twice; python's
    /// UDP connect, refused connect, unix bind and listen one row each, under python's command; every
    /// row ends final when its process exits. The listener outside the session has none.
    func testReplayAggregatesASessionsActivity() throws {
        let log = try Fixture.load("network_activity")
        var outputs: [CorrelatorOutput] = []
        let correlator = Correlator.replaying(log) { outputs.append($0) }
        for event in try log.events() { correlator.handle(event) }
        let rows = Self.networkRows(outputs).values.sorted { $0.id < $1.id }
        let commands = Dictionary(outputs.compactMap { if case let .command(c) = $0 { return (c.id, c) } else { return nil } },
                                  uniquingKeysWith: { $1 })
        let described = rows.map { r in
            "\(baseName(commands[r.commandID ?? 0]?.filename ?? "?")) \(r.op.rawValue) \(r.family)/\(r.proto) "
                + "\(r.path ?? "\(r.addr ?? "-"):\(r.port ?? 0)") ×\(r.count)"
        }
        XCTAssertEqual(described, [
            "bash connect inet/tcp 127.0.0.1:23580 ×2",
            "python3 connect inet/udp 127.0.0.1:23581 ×1",
            "python3 connect_failed inet/tcp 127.0.0.1:23582 ×1",
            "python3 bind unix/stream /tmp/net-fixture.sock ×1",
            "python3 listen unix/stream /tmp/net-fixture.sock ×1",
        ])
        XCTAssertEqual(Set(rows.map(\.sessionID)).count, 1)
        XCTAssertTrue(rows.allSatisfy(\.final), "the processes exited: every row's last version is final")
        XCTAssertLessThan(rows[0].firstAtNs, rows[0].lastAtNs)
        XCTAssertEqual(correlator.tableSizes["networkRows"], 0)
    }

    /// A flood of distinct endpoints from one process: the table holds at most its bound; the oldest
    /// rows give up their later counts (final, counted, the session flagged); every endpoint still
    /// gets its row, and an endpoint seen again after its row left starts a new one.
    func testAFloodOfEndpointsStaysWithinTheBound() throws {
        let log = try Fixture.load("network_activity")
        let events = try log.events()
        let first = try XCTUnwrap(events.firstIndex { if case .network = $0.kind { return true } else { return false } })
        var bounds = CorrelatorBounds()
        bounds.networkRows = 1_000
        var outputs: [CorrelatorOutput] = []
        let correlator = Correlator.replaying(log, bounds: bounds) { outputs.append($0) }
        for event in events[...first] { correlator.handle(event) }
        var flood = events[first]
        var maxSize = 0
        for i in 0..<20_000 {
            flood.timestampNs += 1_000
            flood.kind = .network(NetworkCall(operation: .connect, result: 0, family: 2, socketType: 2, ipProtocol: 17,
                                              endpoint: Endpoint(address: "127.0.0.\(1 + i / 10_000)", port: UInt16(1 + i % 10_000)),
                                              path: nil, fromCaller: false))
            correlator.handle(flood)
            maxSize = max(maxSize, correlator.tableSizes["networkRows"] ?? 0)
        }
        // The first endpoint again: its row left long ago.
        flood.kind = .network(NetworkCall(operation: .connect, result: 0, family: 2, socketType: 2, ipProtocol: 17,
                                          endpoint: Endpoint(address: "127.0.0.1", port: 1), path: nil, fromCaller: false))
        correlator.handle(flood)
        for event in events[(first + 1)...] { correlator.handle(event) }

        XCTAssertLessThanOrEqual(maxSize, 1_000)
        let rows = Self.networkRows(outputs)
        let flooded = rows.values.filter { $0.proto == "udp" && $0.addr?.hasPrefix("127.0.0.") == true && $0.port != 23581 }
        XCTAssertEqual(flooded.count, 20_001, "one row per endpoint, and a new one for the endpoint seen again")
        XCTAssertEqual(flooded.reduce(0) { $0 + $1.count }, 20_001)
        XCTAssertGreaterThanOrEqual(correlator.overflows, UInt64(20_000 - 1_000))
        let session = outputs.reduce(nil as SessionRecord?) { if case let .session(s) = $1 { return s } else { return $0 } }
        XCTAssertEqual(session?.drops, true, "the session says it may miss something")
        XCTAssertTrue(rows.values.allSatisfy(\.final))
        XCTAssertEqual(correlator.tableSizes["networkRows"], 0)
    }

    /// A checkpoint carries the rows being counted: a restored correlator goes on counting them.
    func testCheckpointCarriesRowsBeingCounted() throws {
        let log = try Fixture.load("network_activity")
        let events = try log.events()
        let first = try XCTUnwrap(events.firstIndex { if case .network = $0.kind { return true } else { return false } })
        var straight: [CorrelatorOutput] = []
        let a = Correlator.replaying(log) { straight.append($0) }
        for event in events { a.handle(event) }

        var resumed: [CorrelatorOutput] = []
        let b = Correlator.replaying(log) { resumed.append($0) }
        for event in events[...first] { b.handle(event) }
        let c = Correlator.replaying(log) { resumed.append($0) }
        try c.restore(try b.checkpoint())
        for event in events[(first + 1)...] { c.handle(event) }
        XCTAssertEqual(Self.networkRows(resumed), Self.networkRows(straight))
    }

    /// The kernel reports a (process, call, endpoint) once with a key and counts its repeats
    /// (bpf/net.bpf.h): the counts the recorder reads add to that row once each, across a checkpoint;
    /// after the row is given up at the bound they start a new row; the key is released at the exit.
    func testKernelCountedRepeatsAddToTheirRow() throws {
        let log = try Fixture.load("network_activity")
        let events = try log.events()
        let first = try XCTUnwrap(events.firstIndex { if case .network = $0.kind { return true } else { return false } })
        var bounds = CorrelatorBounds()
        bounds.networkRows = 100
        var outputs: [CorrelatorOutput] = []
        var correlator = Correlator.replaying(log, bounds: bounds) { outputs.append($0) }
        for event in events[..<first] { correlator.handle(event) }
        let key = [UInt8](repeating: 7, count: 160)
        var call = events[first]
        call.kind = .network(NetworkCall(operation: .send, result: 0, family: 2, socketType: 2, ipProtocol: 17,
                                         endpoint: Endpoint(address: "198.51.100.7", port: 53), path: nil, fromCaller: true,
                                         seenKey: key))
        correlator.handle(call)
        XCTAssertEqual(correlator.fileSeenKeys(of: call.process), [key])
        func repeats(_ count: UInt64) {
            var r = call
            r.timestampNs += 1_000
            r.kind = .fileRepeat(key: key, count: count)
            correlator.handle(r)
        }
        func sent() -> [NetworkRecord] {
            Self.networkRows(outputs).values.filter { $0.op == .send }.sorted { $0.id < $1.id }
        }
        repeats(5)
        XCTAssertEqual(sent().map(\.count), [6])
        // Resumed from a checkpoint: the same count read again adds nothing, a higher one the difference.
        let resumed = Correlator.replaying(log, bounds: bounds) { outputs.append($0) }
        try resumed.restore(try correlator.checkpoint())
        correlator = resumed
        repeats(5)
        repeats(9)
        XCTAssertEqual(sent().map(\.count), [10])
        // Given up at the bound: repeats counted later are a new row, not lost.
        var flood = call
        for i in 0..<200 {
            flood.kind = .network(NetworkCall(operation: .connect, result: 0, family: 2, socketType: 2, ipProtocol: 17,
                                              endpoint: Endpoint(address: "127.0.0.1", port: UInt16(1 + i)), path: nil,
                                              fromCaller: false))
            correlator.handle(flood)
        }
        XCTAssertEqual(sent().map(\.count), [10])
        XCTAssertTrue(sent()[0].final)
        repeats(12)
        XCTAssertEqual(sent().map(\.count), [10, 3])
        XCTAssertEqual(sent().map(\.addr), ["198.51.100.7", "198.51.100.7"])
        _ = correlator.takeReleasedFileSeenKeys()
        for event in events[(first + 1)...] { correlator.handle(event) }
        XCTAssertTrue(correlator.takeReleasedFileSeenKeys().contains(key), "released at the process's exit")
        XCTAssertEqual(correlator.fileSeenKeys(of: call.process), [])
    }
}
