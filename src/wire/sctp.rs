//! SCTP (RFC 9260) common header.
//!
//! The checksum is CRC32c over the whole SCTP packet with the checksum field zeroed; it has no
//! pseudo-header, so rewriting IP addresses leaves it unchanged. svcplane stores and reads it
//! as the 32-bit value whose little-endian bytes are on the wire, as Linux does.

use super::{be16, be32, checksum, put16, Error};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const VERIFICATION_TAG: usize = 4;
    pub const CHECKSUM: core::ops::Range<usize> = 8..12;
    pub const FIRST_CHUNK_TYPE: usize = 12;
}

/// Length of the SCTP common header.
pub const HEADER_LEN: usize = 12;

/// Chunk type of INIT.
pub const CHUNK_INIT: u8 = 1;
/// Chunk type of INIT ACK.
pub const CHUNK_INIT_ACK: u8 = 2;
/// Chunk type of ABORT.
pub const CHUNK_ABORT: u8 = 6;
/// Chunk type of SHUTDOWN.
pub const CHUNK_SHUTDOWN: u8 = 7;
/// Chunk type of SHUTDOWN ACK.
pub const CHUNK_SHUTDOWN_ACK: u8 = 8;
/// Chunk type of SHUTDOWN COMPLETE.
pub const CHUNK_SHUTDOWN_COMPLETE: u8 = 14;

/// What an SCTP packet's chunks tell connection tracking, as bits ([`chunk_bits`]).
pub mod chunks {
    /// An INIT chunk: a new association.
    pub const INIT: u8 = 0x01;
    /// An INIT ACK chunk.
    pub const INIT_ACK: u8 = 0x02;
    /// An ABORT chunk: the association ends at once.
    pub const ABORT: u8 = 0x04;
    /// A SHUTDOWN chunk: the sender starts a graceful close.
    pub const SHUTDOWN: u8 = 0x08;
    /// A SHUTDOWN ACK chunk: the answer to a SHUTDOWN.
    pub const SHUTDOWN_ACK: u8 = 0x10;
    /// A SHUTDOWN COMPLETE chunk: the graceful close is done.
    pub const SHUTDOWN_COMPLETE: u8 = 0x20;
}

/// Most chunks [`chunk_bits`] reads in one packet (a bound on the packet path's work; real
/// packets bundle a few).
pub const MAX_CHUNKS_READ: usize = 16;

/// The [`chunks`] bits of the chunks in `packet` (an SCTP packet from its common header on),
/// read in order up to [`MAX_CHUNKS_READ`], up to the first chunk whose length field is below
/// 4 or that runs past the end (the rest cannot be delimited). Never fails.
pub fn chunk_bits(packet: &[u8]) -> u8 {
    let mut bits = 0;
    let mut at = HEADER_LEN;
    for _ in 0..MAX_CHUNKS_READ {
        let Some(h) = packet.get(at..at + 4) else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if len < 4 || at + len > packet.len() {
            break;
        }
        bits |= match h[0] {
            CHUNK_INIT => chunks::INIT,
            CHUNK_INIT_ACK => chunks::INIT_ACK,
            CHUNK_ABORT => chunks::ABORT,
            CHUNK_SHUTDOWN => chunks::SHUTDOWN,
            CHUNK_SHUTDOWN_ACK => chunks::SHUTDOWN_ACK,
            CHUNK_SHUTDOWN_COMPLETE => chunks::SHUTDOWN_COMPLETE,
            _ => 0,
        };
        // Chunks are padded to 4 bytes (RFC 9260 §3.2).
        at += (len + 3) & !3;
    }
    bits
}

/// A read/write view of an SCTP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the common header.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The verification tag.
    pub fn verification_tag(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VERIFICATION_TAG)
    }

    /// The type of the first chunk, when the packet has one.
    pub fn first_chunk_type(&self) -> Option<u8> {
        self.buffer.as_ref().get(field::FIRST_CHUNK_TYPE).copied()
    }

    /// The checksum field (the CRC32c value; its little-endian bytes are on the wire).
    pub fn checksum(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The CRC32c of the whole buffer as the packet, with the checksum field taken as zero.
    pub fn compute_checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        let mut head = [0u8; HEADER_LEN];
        head[..8].copy_from_slice(&b[..8]);
        checksum::crc32c_append(checksum::crc32c(&head), &b[HEADER_LEN..])
    }

    /// True when the checksum is correct for the whole buffer as the packet.
    pub fn verify_checksum(&self) -> bool {
        self.checksum() == self.compute_checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port (the checksum is not updated).
    pub fn set_src_port(&mut self, p: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, p);
    }

    /// Sets the destination port (the checksum is not updated).
    pub fn set_dst_port(&mut self, p: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, p);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u32) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_le_bytes());
    }

    /// Computes the CRC32c over the whole buffer as the packet and stores it.
    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A common header followed by chunks given as (type, value length), each padded.
    fn packet(chunks: &[(u8, usize)]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        for &(t, n) in chunks {
            p.extend([t, 0]);
            p.extend(((4 + n) as u16).to_be_bytes());
            p.extend(core::iter::repeat_n(0xab, n));
            while p.len() % 4 != 0 {
                p.push(0);
            }
        }
        p
    }

    #[test]
    fn chunk_bits_reads_bundled_chunks_and_stops_where_they_cannot_be_delimited() {
        use chunks::*;
        assert_eq!(chunk_bits(&packet(&[])), 0);
        assert_eq!(chunk_bits(&packet(&[(CHUNK_INIT, 16)])), INIT);
        assert_eq!(chunk_bits(&packet(&[(CHUNK_INIT_ACK, 17)])), INIT_ACK);
        // DATA (0) of an odd length, padded, then an ABORT: both read.
        assert_eq!(chunk_bits(&packet(&[(0, 5), (CHUNK_ABORT, 0)])), ABORT);
        let all = [
            (CHUNK_SHUTDOWN, 4),
            (CHUNK_SHUTDOWN_ACK, 0),
            (CHUNK_SHUTDOWN_COMPLETE, 0),
            (3, 12),
        ];
        assert_eq!(
            chunk_bits(&packet(&all)),
            SHUTDOWN | SHUTDOWN_ACK | SHUTDOWN_COMPLETE
        );
        // A chunk running past the end, or with a length below 4, ends the reading.
        let mut p = packet(&[(0, 4), (CHUNK_ABORT, 0)]);
        p.truncate(p.len() - 1);
        assert_eq!(chunk_bits(&p), 0);
        let mut p = packet(&[(0, 4), (CHUNK_ABORT, 0)]);
        p[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(chunk_bits(&p), 0);
        // At most MAX_CHUNKS_READ chunks.
        let mut many = vec![(0u8, 0usize); MAX_CHUNKS_READ - 1];
        many.push((CHUNK_ABORT, 0));
        assert_eq!(chunk_bits(&packet(&many)), ABORT);
        many.insert(0, (0, 0));
        assert_eq!(chunk_bits(&packet(&many)), 0);
        // Short or empty input.
        assert_eq!(chunk_bits(&[]), 0);
        assert_eq!(chunk_bits(&[0; 15]), 0);
    }

    #[test]
    fn test_parse_and_emit() {
        // An INIT chunk header after the common header: 5000 → 80, tag 0.
        let mut buf = [0u8; 32];
        buf[..4].copy_from_slice(&[0x13, 0x88, 0x00, 0x50]);
        buf[12] = CHUNK_INIT;
        buf[14..16].copy_from_slice(&20u16.to_be_bytes());
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.src_port(), 5000);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.verification_tag(), 0);
        assert_eq!(p.first_chunk_type(), Some(CHUNK_INIT));
        p.fill_checksum();
        assert!(p.verify_checksum());
        // The stored value is the CRC32c of the packet with a zeroed checksum field.
        let mut zeroed = buf;
        zeroed[8..12].fill(0);
        let crc = checksum::crc32c(&zeroed);
        assert_eq!(&buf[8..12], &crc.to_le_bytes());
        assert_eq!(
            Packet::new_checked(&buf[..11]).unwrap_err(),
            Error::Truncated
        );
    }
}
