//! ICMP for IPv6 (RFC 4443): echo and the error messages that quote the offending packet.
//!
//! Unlike ICMPv4, the ICMPv6 checksum covers the IPv6 pseudo-header
//! ([`checksum::pseudo_header_v6`]) with next header 58.

use super::{be16, be32, checksum, put16, Error};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQNO: usize = 6;
    pub const MTU: usize = 4;
}

/// Length of the ICMPv6 header; error messages quote the offending packet right after it.
pub const HEADER_LEN: usize = 8;

/// ICMPv6 message types svcplane knows.
pub mod msg_type {
    /// Destination unreachable (code 4: port unreachable).
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet too big (the MTU is in bytes 4..8).
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
}

/// Destination-unreachable codes.
pub mod unreachable {
    /// Communication with destination administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Port unreachable.
    pub const PORT: u8 = 4;
}

/// True for the error messages: every type below 128 (RFC 4443 §2.1; 1–4 are the ones
/// defined there, the others quote the offending packet the same way).
pub fn is_error(msg_type: u8) -> bool {
    msg_type < 128
}

/// A read/write view of an ICMPv6 message.
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

    /// Checks that the buffer holds the 8-byte header.
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

    /// The message type (see [`msg_type`]).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The identifier of an echo message.
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// The sequence number of an echo message.
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// The MTU of a "packet too big" message.
    pub fn mtu(&self) -> u32 {
        be32(self.buffer.as_ref(), field::MTU)
    }

    /// The data after the header: the quoted packet of an error message.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True when the checksum over the whole buffer as the message is correct, given the sum
    /// of its pseudo-header.
    pub fn verify_checksum(&self, pseudo_header: u32) -> bool {
        checksum::fold(pseudo_header + checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    /// Sets the code.
    pub fn set_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }

    /// Sets the echo identifier (the checksum is not updated).
    pub fn set_echo_ident(&mut self, id: u16) {
        put16(self.buffer.as_mut(), field::ECHO_IDENT, id);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, c);
    }

    /// The data after the header, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes the checksum over the whole buffer as the message and stores it.
    pub fn fill_checksum(&mut self, pseudo_header: u32) {
        self.set_checksum(0);
        let c = checksum::finish(pseudo_header + checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_and_emit() {
        let src = [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0xfd, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let mut buf = [128, 0, 0, 0, 0x00, 0x2a, 0x00, 0x07, 1, 2, 3, 4];
        let ph = checksum::pseudo_header_v6(src, dst, 58, buf.len() as u32);
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(p.echo_ident(), 42);
        assert_eq!(p.echo_seq_no(), 7);
        p.fill_checksum(ph);
        assert!(p.verify_checksum(ph));
        assert!(is_error(msg_type::PACKET_TOO_BIG));
        assert!(!is_error(msg_type::ECHO_REPLY));
        assert_eq!(
            Packet::new_checked(&buf[..7]).unwrap_err(),
            Error::Truncated
        );
    }
}
