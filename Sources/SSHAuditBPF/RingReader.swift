import CRingBuffer
import Foundation

/// Reads a BPF ring buffer map directly (the kernel's layout: a consumer page, a producer page, then
/// the data pages mapped twice so that a record never wraps).
///
/// Unlike libbpf's reader, reading and releasing are separate: records are handed out as they come
/// (`read`), but the kernel may reuse their space only once `release(upTo:)` says so. The recorder
/// releases a position only after the database holds everything derived from the records before it,
/// so records read but not yet stored survive a crash of the recorder in the (pinned) ring buffer,
/// and the next run reads them again.
final class RingReader {
    private static let busyBit: UInt32 = 1 << 31
    private static let discardBit: UInt32 = 1 << 30
    private static let headerSize: UInt64 = 8

    private let consumerPage: UnsafeMutableRawPointer
    private let producerArea: UnsafeMutableRawPointer
    private let pageSize: Int
    private let size: UInt64
    /// The next record to read: at or after the released position.
    private(set) var readPosition: UInt64

    init(mapFD: Int32, size: UInt64) throws {
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        self.size = size
        guard let consumer = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, mapFD, 0),
              consumer != MAP_FAILED else { throw TracerError.ringBuffer(errno) }
        guard let producer = mmap(nil, pageSize + 2 * Int(size), PROT_READ, MAP_SHARED, mapFD, off_t(pageSize)),
              producer != MAP_FAILED else {
            let e = errno
            munmap(consumer, pageSize)
            throw TracerError.ringBuffer(e)
        }
        consumerPage = consumer
        producerArea = producer
        readPosition = sa_ring_load_u64(consumer)
    }

    deinit {
        munmap(consumerPage, pageSize)
        munmap(producerArea, pageSize + 2 * Int(size))
    }

    /// The position up to which the kernel may reuse the space.
    var releasedPosition: UInt64 { sa_ring_load_u64(consumerPage) }

    /// Whether records are waiting to be read.
    var hasRecords: Bool { readPosition < sa_ring_load_u64(producerArea) }

    /// The position after the last record the kernel has reserved so far.
    var writePosition: UInt64 { sa_ring_load_u64(producerArea) }

    /// Hands every complete record written so far to `handler` (valid only during the call), in order;
    /// returns how many.
    @discardableResult
    func read(_ handler: (UnsafeRawBufferPointer) -> Void) -> Int {
        let data = producerArea + pageSize
        let producer = sa_ring_load_u64(producerArea)
        var count = 0
        while readPosition < producer {
            let header = data + Int(readPosition & (size - 1))
            let word = sa_ring_load_u32(header)
            if word & Self.busyBit != 0 { break }  // still being written
            let length = UInt64(word & ~(Self.busyBit | Self.discardBit))
            if word & Self.discardBit == 0 {
                handler(UnsafeRawBufferPointer(start: header + Int(Self.headerSize), count: Int(length)))
                count += 1
            }
            readPosition += (length + Self.headerSize + 7) & ~7
        }
        return count
    }

    /// Continues reading at `position` (a record boundary read by an earlier run: the records before
    /// it are already reflected in the checkpoint being resumed).
    func skip(to position: UInt64) {
        let producer = sa_ring_load_u64(producerArea)
        if position > readPosition, position <= producer { readPosition = position }
    }

    /// Lets the kernel reuse the space of every record before `position` (at most what was read).
    func release(upTo position: UInt64) {
        let target = min(position, readPosition)
        guard target > releasedPosition else { return }
        sa_ring_store_u64(consumerPage, target)
    }
}
