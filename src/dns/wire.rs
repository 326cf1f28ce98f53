//! DNS messages in wire format (RFC 1035 §4.1): a validating parser over a byte slice and a
//! writer into a caller's buffer with name compression (RFC 1035 §4.1.4).
//!
//! Neither side allocates. [`Message::parse`] checks a whole message once — every name, every
//! record, every RDATA of a type it knows — and then hands out views ([`Question`], [`Record`],
//! [`Name`]) that read the bytes in place. [`Writer`] appends to a `&mut [u8]` and reports
//! [`Full`] instead of writing past its end; [`Writer::mark`] and [`Writer::rollback`] undo a
//! partly written record or record set, which is how truncation keeps only whole records
//! (RFC 2181 §9).
//!
//! # Names
//!
//! A name is a sequence of labels of 1–63 bytes ending with the empty root label, at most 255
//! bytes in its uncompressed wire form (RFC 1035 §2.3.4). In a message a name may end with a
//! compression pointer to an earlier occurrence of its suffix. The parser accepts a pointer only
//! when it points at or after byte 12 (never into the header) and strictly before every byte of
//! the name read so far — so forward pointers and loops are rejected — and follows at most
//! [`MAX_POINTERS`] pointers per name. Label types
//! `0b01` (extended labels, RFC 6891 §5) and `0b10` are rejected. Comparisons that ignore case
//! fold ASCII letters only (RFC 4343).
//!
//! [`NameBuf`] holds one name uncompressed, on the stack (255 bytes); the writer takes names in
//! that form (`&[u8]` of uncompressed wire bytes) and compresses them against every name it
//! has written before, comparing bytes exactly, so a name's case is never changed by
//! compression. SRV targets are written uncompressed (RFC 2782); names inside NS, CNAME, PTR,
//! MX and SOA data are compressed (RFC 3597 §4 limits compression to RFC 1035's types).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// The length of the message header.
pub const HEADER_LEN: usize = 12;
/// The longest name in uncompressed wire form, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// The longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// The most compression pointers the parser follows within one name. Real compressors use one;
/// the bound keeps a hostile chain of pointers from costing more than a few hundred steps.
pub const MAX_POINTERS: usize = 16;
/// The largest DNS message (the TCP length prefix is 16 bits).
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// Why bytes are not a well-formed DNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The message ends inside the header, a name, a fixed field or record data.
    Truncated,
    /// A label whose two top bits are `01` (extended labels) or `10` (unassigned).
    BadLabelType,
    /// A compression pointer into the header, forward, or to a part of the name already read
    /// (a loop).
    BadPointer,
    /// A name with more than [`MAX_POINTERS`] compression pointers.
    TooManyPointers,
    /// A name longer than 255 bytes uncompressed.
    NameTooLong,
    /// Record data that does not match its type: an A or AAAA of the wrong length, names and
    /// fields that do not fill RDLENGTH exactly, TXT character strings or OPT options that
    /// overrun it.
    BadRdata,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "message truncated",
            Self::BadLabelType => "unsupported label type",
            Self::BadPointer => "compression pointer into the header, forward or looping",
            Self::TooManyPointers => "too many compression pointers in one name",
            Self::NameTooLong => "name longer than 255 bytes",
            Self::BadRdata => "record data does not match its type and length",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseError {}

/// A record type (RR TYPE, RFC 1035 §3.2.2), or a query type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Type(pub u16);

impl Type {
    /// An IPv4 address.
    pub const A: Self = Self(1);
    /// An authoritative name server.
    pub const NS: Self = Self(2);
    /// The canonical name of an alias.
    pub const CNAME: Self = Self(5);
    /// The start of a zone of authority.
    pub const SOA: Self = Self(6);
    /// A domain name pointer (reverse lookups).
    pub const PTR: Self = Self(12);
    /// A mail exchange.
    pub const MX: Self = Self(15);
    /// Text strings.
    pub const TXT: Self = Self(16);
    /// An IPv6 address (RFC 3596).
    pub const AAAA: Self = Self(28);
    /// A service location (RFC 2782).
    pub const SRV: Self = Self(33);
    /// The EDNS(0) pseudo-record (RFC 6891).
    pub const OPT: Self = Self(41);
    /// Transaction key (RFC 2930), a meta type.
    pub const TKEY: Self = Self(249);
    /// Transaction signature (RFC 8945), a meta type.
    pub const TSIG: Self = Self(250);
    /// Incremental zone transfer (RFC 1995).
    pub const IXFR: Self = Self(251);
    /// Zone transfer.
    pub const AXFR: Self = Self(252);
    /// Mailbox records (obsolete query type).
    pub const MAILB: Self = Self(253);
    /// Mail agent records (obsolete query type).
    pub const MAILA: Self = Self(254);
    /// Every record type (query type `*`, RFC 8482).
    pub const ANY: Self = Self(255);

    fn mnemonic(self) -> Option<&'static str> {
        Some(match self {
            Self::A => "A",
            Self::NS => "NS",
            Self::CNAME => "CNAME",
            Self::SOA => "SOA",
            Self::PTR => "PTR",
            Self::MX => "MX",
            Self::TXT => "TXT",
            Self::AAAA => "AAAA",
            Self::SRV => "SRV",
            Self::OPT => "OPT",
            Self::TKEY => "TKEY",
            Self::TSIG => "TSIG",
            Self::IXFR => "IXFR",
            Self::AXFR => "AXFR",
            Self::MAILB => "MAILB",
            Self::MAILA => "MAILA",
            Self::ANY => "ANY",
            _ => return None,
        })
    }
}

impl fmt::Display for Type {
    /// The mnemonic, or `TYPE<n>` (RFC 3597 §5) for a type without one here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            Some(m) => f.write_str(m),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// A record class (RFC 1035 §3.2.4), or a query class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Class(pub u16);

impl Class {
    /// The Internet.
    pub const IN: Self = Self(1);
    /// Chaos.
    pub const CH: Self = Self(3);
    /// Hesiod.
    pub const HS: Self = Self(4);
    /// NONE (RFC 2136).
    pub const NONE: Self = Self(254);
    /// Any class (query class `*`).
    pub const ANY: Self = Self(255);
}

impl fmt::Display for Class {
    /// The mnemonic, or `CLASS<n>` (RFC 3597 §5).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::IN => f.write_str("IN"),
            Self::CH => f.write_str("CH"),
            Self::HS => f.write_str("HS"),
            Self::NONE => f.write_str("NONE"),
            Self::ANY => f.write_str("ANY"),
            Self(n) => write!(f, "CLASS{n}"),
        }
    }
}

/// The kind of a message (OPCODE, 4 bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Opcode(pub u8);

impl Opcode {
    /// A standard query.
    pub const QUERY: Self = Self(0);
    /// An inverse query (obsolete, RFC 3425).
    pub const IQUERY: Self = Self(1);
    /// A server status request.
    pub const STATUS: Self = Self(2);
    /// A zone change notification (RFC 1996).
    pub const NOTIFY: Self = Self(4);
    /// A dynamic update (RFC 2136).
    pub const UPDATE: Self = Self(5);
}

/// A response code: the header's 4 bits, extended to 12 by an OPT record (RFC 6891 §6.1.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rcode(pub u16);

impl Rcode {
    /// No error.
    pub const NOERROR: Self = Self(0);
    /// The query was malformed.
    pub const FORMERR: Self = Self(1);
    /// The server failed.
    pub const SERVFAIL: Self = Self(2);
    /// The name does not exist.
    pub const NXDOMAIN: Self = Self(3);
    /// The kind of query is not implemented.
    pub const NOTIMP: Self = Self(4);
    /// The server refuses to answer (here: the name is outside its zones).
    pub const REFUSED: Self = Self(5);
    /// The EDNS version is not supported (needs an OPT record).
    pub const BADVERS: Self = Self(16);

    /// The low 4 bits, carried in the header.
    pub fn header_bits(self) -> u8 {
        (self.0 & 0xf) as u8
    }

    /// The high 8 bits, carried in an OPT record's TTL.
    pub fn extended_bits(self) -> u8 {
        ((self.0 >> 4) & 0xff) as u8
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NOERROR => f.write_str("NOERROR"),
            Self::FORMERR => f.write_str("FORMERR"),
            Self::SERVFAIL => f.write_str("SERVFAIL"),
            Self::NXDOMAIN => f.write_str("NXDOMAIN"),
            Self::NOTIMP => f.write_str("NOTIMP"),
            Self::REFUSED => f.write_str("REFUSED"),
            Self::BADVERS => f.write_str("BADVERS"),
            Self(n) => write!(f, "RCODE{n}"),
        }
    }
}

/// The 12-byte message header (RFC 1035 §4.1.1, with the AD and CD bits of RFC 4035 §3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// The query identifier, copied into the response.
    pub id: u16,
    /// QR: set in responses.
    pub qr: bool,
    /// OPCODE.
    pub opcode: Opcode,
    /// AA: the answer is authoritative.
    pub aa: bool,
    /// TC: the message was truncated.
    pub tc: bool,
    /// RD: recursion desired.
    pub rd: bool,
    /// RA: recursion available.
    pub ra: bool,
    /// Z: the reserved bit.
    pub z: bool,
    /// AD: authentic data.
    pub ad: bool,
    /// CD: checking disabled.
    pub cd: bool,
    /// The low 4 bits of the response code.
    pub rcode: u8,
    /// QDCOUNT: questions.
    pub qdcount: u16,
    /// ANCOUNT: answer records.
    pub ancount: u16,
    /// NSCOUNT: authority records.
    pub nscount: u16,
    /// ARCOUNT: additional records.
    pub arcount: u16,
}

impl Header {
    /// The header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let h = buf.get(..HEADER_LEN).ok_or(ParseError::Truncated)?;
        let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let flags = word(2);
        let bit = |n: u16| flags & (1 << n) != 0;
        Ok(Self {
            id: word(0),
            qr: bit(15),
            opcode: Opcode(((flags >> 11) & 0xf) as u8),
            aa: bit(10),
            tc: bit(9),
            rd: bit(8),
            ra: bit(7),
            z: bit(6),
            ad: bit(5),
            cd: bit(4),
            rcode: (flags & 0xf) as u8,
            qdcount: word(4),
            ancount: word(6),
            nscount: word(8),
            arcount: word(10),
        })
    }

    /// The header in wire format.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let bit = |b: bool, n: u16| u16::from(b) << n;
        let flags = bit(self.qr, 15)
            | (u16::from(self.opcode.0 & 0xf) << 11)
            | bit(self.aa, 10)
            | bit(self.tc, 9)
            | bit(self.rd, 8)
            | bit(self.ra, 7)
            | bit(self.z, 6)
            | bit(self.ad, 5)
            | bit(self.cd, 4)
            | u16::from(self.rcode & 0xf);
        let mut out = [0u8; HEADER_LEN];
        for (i, word) in [
            self.id,
            flags,
            self.qdcount,
            self.ancount,
            self.nscount,
            self.arcount,
        ]
        .into_iter()
        .enumerate()
        {
            out[2 * i..2 * i + 2].copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// The labels of a name, first (leftmost) to last; the root label is not yielded.
///
/// Over a message it follows compression pointers; it stops early (yields `None`) on anything
/// malformed, which cannot happen for a name that [`Name::parse`] accepted.
#[derive(Clone, Debug)]
pub struct Labels<'a> {
    buf: &'a [u8],
    pos: usize,
    hops: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let b = *self.buf.get(self.pos)?;
            match b & 0xc0 {
                0x00 if b == 0 => return None,
                0x00 => {
                    let start = self.pos + 1;
                    let label = self.buf.get(start..start + usize::from(b))?;
                    self.pos = start + usize::from(b);
                    return Some(label);
                }
                0xc0 => {
                    let low = *self.buf.get(self.pos + 1)?;
                    self.hops += 1;
                    if self.hops > MAX_POINTERS {
                        return None;
                    }
                    self.pos = usize::from(u16::from_be_bytes([b & 0x3f, low]));
                }
                _ => return None,
            }
        }
    }
}

/// Writes labels as a presentation-format name with a trailing dot (`.` for the root):
/// `.` and `\` inside a label, and bytes that are not printable ASCII, are escaped (RFC 1035
/// §5.1).
fn fmt_labels<'a>(
    labels: impl Iterator<Item = &'a [u8]>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let mut any = false;
    for label in labels {
        any = true;
        for &c in label {
            match c {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    write!(f, "\\{}", char::from(c))?
                }
                0x21..=0x7e => write!(f, "{}", char::from(c))?,
                _ => write!(f, "\\{c:03}")?,
            }
        }
        f.write_str(".")?;
    }
    if !any {
        f.write_str(".")?;
    }
    Ok(())
}

/// A name inside a message, validated by [`Name::parse`]; it reads the message in place.
///
/// Equality compares labels exactly (case-sensitively); see [`Name::eq_ignore_ascii_case`].
#[derive(Clone, Copy)]
pub struct Name<'a> {
    msg: &'a [u8],
    start: usize,
    len: u8,
}

impl<'a> Name<'a> {
    /// The name at `pos` in `msg`, and the offset just after it (after its first pointer, if
    /// it has one). See the [module documentation](self) for the rules.
    pub fn parse(msg: &'a [u8], pos: usize) -> Result<(Self, usize), ParseError> {
        let start = pos;
        let mut pos = pos;
        // Every pointer must go strictly below the lowest offset read so far.
        let mut lowest = pos;
        let mut end = None;
        let mut len = 0usize;
        let mut pointers = 0;
        loop {
            let b = *msg.get(pos).ok_or(ParseError::Truncated)?;
            match b & 0xc0 {
                0x00 if b == 0 => {
                    len += 1;
                    if len > MAX_NAME_LEN {
                        return Err(ParseError::NameTooLong);
                    }
                    let end = end.unwrap_or(pos + 1);
                    // len <= 255 was checked above.
                    let len = len as u8;
                    return Ok((Self { msg, start, len }, end));
                }
                0x00 => {
                    let n = usize::from(b);
                    if msg.get(pos + 1..pos + 1 + n).is_none() {
                        return Err(ParseError::Truncated);
                    }
                    len += 1 + n;
                    // The root label still has to follow.
                    if len + 1 > MAX_NAME_LEN {
                        return Err(ParseError::NameTooLong);
                    }
                    pos += 1 + n;
                }
                0xc0 => {
                    let low = *msg.get(pos + 1).ok_or(ParseError::Truncated)?;
                    let target = usize::from(u16::from_be_bytes([b & 0x3f, low]));
                    if target < HEADER_LEN || target >= lowest {
                        return Err(ParseError::BadPointer);
                    }
                    pointers += 1;
                    if pointers > MAX_POINTERS {
                        return Err(ParseError::TooManyPointers);
                    }
                    if end.is_none() {
                        end = Some(pos + 2);
                    }
                    lowest = target;
                    pos = target;
                }
                _ => return Err(ParseError::BadLabelType),
            }
        }
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> Labels<'a> {
        Labels {
            buf: self.msg,
            pos: self.start,
            hops: 0,
        }
    }

    /// The length of the name uncompressed, root label included (1–255).
    pub fn wire_len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for the root name.
    pub fn is_root(&self) -> bool {
        self.len == 1
    }

    /// The name uncompressed, in a buffer of its own.
    pub fn to_buf(&self) -> NameBuf {
        let mut out = NameBuf::ROOT;
        for label in self.labels() {
            // Cannot fail: the name was validated to fit in 255 bytes.
            if out.push_label(label).is_err() {
                break;
            }
        }
        out
    }

    /// True when both names have the same labels, ASCII letters compared without case.
    pub fn eq_ignore_ascii_case(&self, other: &Name<'_>) -> bool {
        self.len == other.len
            && self
                .labels()
                .zip(other.labels())
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

impl PartialEq for Name<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.labels().eq(other.labels())
    }
}

impl Eq for Name<'_> {}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_labels(self.labels(), f)
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Why a string or bytes are not a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameError {
    /// An empty label (`a..b`, a leading dot).
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// More than 255 bytes uncompressed.
    TooLong,
    /// Wire bytes that are not one uncompressed name (a pointer, a bad label type, bytes after
    /// the root label, no root label).
    Malformed,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptyLabel => "empty label",
            Self::LabelTooLong => "label longer than 63 bytes",
            Self::TooLong => "name longer than 255 bytes",
            Self::Malformed => "not an uncompressed wire-format name",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NameError {}

/// One name in uncompressed wire form, held inline (no allocation).
///
/// Always valid: labels of 1–63 bytes, at most 255 bytes with the root label. Equality
/// compares bytes exactly; [`NameBuf::make_ascii_lowercase`] and
/// [`NameBuf::eq_ignore_ascii_case`] fold case.
#[derive(Clone, Copy)]
pub struct NameBuf {
    bytes: [u8; MAX_NAME_LEN],
    len: u8,
}

impl NameBuf {
    /// The root name.
    pub const ROOT: Self = Self {
        bytes: [0; MAX_NAME_LEN],
        len: 1,
    };

    /// The name written as dotted labels, such as `my-svc.default.svc.cluster.local` (a
    /// trailing dot is allowed; `""` and `"."` are the root). There are no escapes: every
    /// byte between dots is part of a label.
    pub fn from_dotted(s: &str) -> Result<Self, NameError> {
        let mut out = Self::ROOT;
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.is_empty() {
            return Ok(out);
        }
        for label in s.split('.') {
            out.push_label(label.as_bytes())?;
        }
        Ok(out)
    }

    /// The name in `bytes`, which must be exactly one uncompressed wire-format name.
    pub fn from_wire(bytes: &[u8]) -> Result<Self, NameError> {
        let mut out = Self::ROOT;
        let mut pos = 0;
        loop {
            let n = usize::from(*bytes.get(pos).ok_or(NameError::Malformed)?);
            if n == 0 {
                return if pos + 1 == bytes.len() {
                    Ok(out)
                } else {
                    Err(NameError::Malformed)
                };
            }
            if n > MAX_LABEL_LEN {
                return Err(NameError::Malformed);
            }
            let label = bytes
                .get(pos + 1..pos + 1 + n)
                .ok_or(NameError::Malformed)?;
            out.push_label(label)?;
            pos += 1 + n;
        }
    }

    /// Appends `label` before the root label (so labels are pushed leftmost first).
    pub fn push_label(&mut self, label: &[u8]) -> Result<(), NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        let at = usize::from(self.len) - 1;
        let new_len = at + 1 + label.len() + 1;
        if new_len > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        let dst = self.bytes.get_mut(at..new_len).ok_or(NameError::TooLong)?;
        let (len_byte, rest) = dst.split_at_mut(1);
        let (body, root) = rest.split_at_mut(label.len());
        // label.len() <= 63 was checked above.
        len_byte[0] = label.len() as u8;
        body.copy_from_slice(label);
        root.fill(0);
        // new_len <= 255 was checked above.
        self.len = new_len as u8;
        Ok(())
    }

    /// Appends every label of `suffix` (uncompressed wire bytes of a valid name).
    pub fn append(&mut self, suffix: &NameBuf) -> Result<(), NameError> {
        for label in suffix.labels() {
            self.push_label(label)?;
        }
        Ok(())
    }

    /// The uncompressed wire bytes, root label included.
    pub fn as_wire(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[0])
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            buf: self.as_wire(),
            pos: 0,
            hops: 0,
        }
    }

    /// The number of labels (0 for the root).
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// True for the root name.
    pub fn is_root(&self) -> bool {
        self.len == 1
    }

    /// Lowercases the ASCII letters.
    pub fn make_ascii_lowercase(&mut self) {
        let len = usize::from(self.len);
        // Length bytes are at most 63, below 'A', so they are left as they are.
        if let Some(bytes) = self.bytes.get_mut(..len) {
            bytes.make_ascii_lowercase();
        }
    }

    /// True when both names have the same labels, ASCII letters compared without case.
    pub fn eq_ignore_ascii_case(&self, other: &NameBuf) -> bool {
        self.as_wire().eq_ignore_ascii_case(other.as_wire())
    }
}

impl PartialEq for NameBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_wire() == other.as_wire()
    }
}

impl Eq for NameBuf {}

impl fmt::Display for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_labels(self.labels(), f)
    }
}

impl fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameBuf({self})")
    }
}

/// Formats uncompressed wire bytes as a presentation-format name (as [`NameBuf`] does).
pub(crate) struct WireName<'a>(pub &'a [u8]);

impl fmt::Display for WireName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_labels(
            Labels {
                buf: self.0,
                pos: 0,
                hops: 0,
            },
            f,
        )
    }
}

/// One entry of the question section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question<'a> {
    /// QNAME.
    pub name: Name<'a>,
    /// QTYPE.
    pub qtype: Type,
    /// QCLASS.
    pub qclass: Class,
}

impl<'a> Question<'a> {
    /// The question at `pos` in `msg`, and the offset after it.
    pub fn parse(msg: &'a [u8], pos: usize) -> Result<(Self, usize), ParseError> {
        let (name, pos) = Name::parse(msg, pos)?;
        let qtype = Type(read_u16(msg, pos)?);
        let qclass = Class(read_u16(msg, pos + 2)?);
        Ok((
            Self {
                name,
                qtype,
                qclass,
            },
            pos + 4,
        ))
    }
}

/// The fields of an SOA record (RFC 1035 §3.3.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Soa<'a> {
    /// MNAME: the primary name server.
    pub mname: Name<'a>,
    /// RNAME: the mailbox of the person responsible, as a name.
    pub rname: Name<'a>,
    /// SERIAL.
    pub serial: u32,
    /// REFRESH, seconds.
    pub refresh: u32,
    /// RETRY, seconds.
    pub retry: u32,
    /// EXPIRE, seconds.
    pub expire: u32,
    /// MINIMUM: the negative-caching TTL (RFC 2308 §4).
    pub minimum: u32,
}

/// Record data, decoded for the types this module knows.
///
/// A, AAAA and SRV are decoded in class IN only, the others in any class; OPT in any class
/// (its class is a payload size). Everything else, and records of other classes, stay raw
/// bytes ([`RData::Other`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RData<'a> {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A name server.
    Ns(Name<'a>),
    /// A canonical name.
    Cname(Name<'a>),
    /// A pointer.
    Ptr(Name<'a>),
    /// A mail exchange.
    Mx {
        /// PREFERENCE.
        preference: u16,
        /// EXCHANGE.
        exchange: Name<'a>,
    },
    /// A zone's start of authority.
    Soa(Soa<'a>),
    /// One or more character strings, each a length byte and that many bytes; validated.
    Txt(&'a [u8]),
    /// A service location.
    Srv {
        /// Priority: lower is preferred.
        priority: u16,
        /// Weight among equal priorities.
        weight: u16,
        /// The port.
        port: u16,
        /// The target host.
        target: Name<'a>,
    },
    /// EDNS options, each a code, a length and that many bytes; validated.
    Opt(&'a [u8]),
    /// The other types whose data holds domain names that a sender may compress (RFC 3597 §4):
    /// MD, MF, MB, MG, MR (one name), MINFO and RP (two), AFSDB and RT (a preference and a
    /// name), PX (a preference and two names). Decoded so that the names can be copied into
    /// another message: raw bytes would carry compression pointers into the old one.
    Names {
        /// The leading 16-bit field of AFSDB, RT and PX.
        preference: Option<u16>,
        /// The first name.
        first: Name<'a>,
        /// The second name of MINFO, RP and PX.
        second: Option<Name<'a>>,
    },
    /// Any other type, or a class where the type is not decoded.
    Other(&'a [u8]),
}

/// The layout of the types of [`RData::Names`]: (a leading preference, two names).
fn names_layout(rtype: Type) -> Option<(bool, bool)> {
    match rtype.0 {
        3 | 4 | 7 | 8 | 9 => Some((false, false)),
        14 | 17 => Some((false, true)),
        18 | 21 => Some((true, false)),
        26 => Some((true, true)),
        _ => None,
    }
}

/// One resource record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The owner name.
    pub name: Name<'a>,
    /// TYPE.
    pub rtype: Type,
    /// CLASS (for OPT: the requestor's UDP payload size).
    pub class: Class,
    /// TTL (for OPT: extended RCODE, version and flags).
    pub ttl: u32,
    /// RDATA.
    pub data: RData<'a>,
}

fn read_u16(msg: &[u8], pos: usize) -> Result<u16, ParseError> {
    match msg.get(pos..pos + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(ParseError::Truncated),
    }
}

fn read_u32(msg: &[u8], pos: usize) -> Result<u32, ParseError> {
    match msg.get(pos..pos + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(ParseError::Truncated),
    }
}

/// A name inside RDATA `start..end`: its uncompressed part must not run past `end`.
fn rdata_name(msg: &[u8], pos: usize, end: usize) -> Result<(Name<'_>, usize), ParseError> {
    let (name, next) = Name::parse(msg, pos)?;
    if next > end {
        return Err(ParseError::BadRdata);
    }
    Ok((name, next))
}

fn exact<T>(value: T, next: usize, end: usize) -> Result<T, ParseError> {
    if next == end {
        Ok(value)
    } else {
        Err(ParseError::BadRdata)
    }
}

impl<'a> Record<'a> {
    /// The record at `pos` in `msg`, and the offset after it.
    pub fn parse(msg: &'a [u8], pos: usize) -> Result<(Self, usize), ParseError> {
        let (name, pos) = Name::parse(msg, pos)?;
        let rtype = Type(read_u16(msg, pos)?);
        let class = Class(read_u16(msg, pos + 2)?);
        let ttl = read_u32(msg, pos + 4)?;
        let rdlen = usize::from(read_u16(msg, pos + 8)?);
        let start = pos + 10;
        let end = start + rdlen;
        let raw = msg.get(start..end).ok_or(ParseError::Truncated)?;
        let data = Self::parse_rdata(msg, rtype, class, start, end, raw)?;
        Ok((
            Self {
                name,
                rtype,
                class,
                ttl,
                data,
            },
            end,
        ))
    }

    fn parse_rdata(
        msg: &'a [u8],
        rtype: Type,
        class: Class,
        start: usize,
        end: usize,
        raw: &'a [u8],
    ) -> Result<RData<'a>, ParseError> {
        let bad = |_| ParseError::BadRdata;
        let u16_at = |p: usize| {
            if p + 2 > end {
                Err(ParseError::BadRdata)
            } else {
                read_u16(msg, p)
            }
        };
        Ok(match rtype {
            Type::A if class == Class::IN => {
                let octets: [u8; 4] = raw.try_into().map_err(bad)?;
                RData::A(Ipv4Addr::from(octets))
            }
            Type::AAAA if class == Class::IN => {
                let octets: [u8; 16] = raw.try_into().map_err(bad)?;
                RData::Aaaa(Ipv6Addr::from(octets))
            }
            Type::NS | Type::CNAME | Type::PTR => {
                let (name, next) = rdata_name(msg, start, end)?;
                let data = match rtype {
                    Type::NS => RData::Ns(name),
                    Type::CNAME => RData::Cname(name),
                    _ => RData::Ptr(name),
                };
                exact(data, next, end)?
            }
            Type::MX => {
                let preference = u16_at(start)?;
                let (exchange, next) = rdata_name(msg, start + 2, end)?;
                exact(
                    RData::Mx {
                        preference,
                        exchange,
                    },
                    next,
                    end,
                )?
            }
            Type::SOA => {
                let (mname, next) = rdata_name(msg, start, end)?;
                let (rname, next) = rdata_name(msg, next, end)?;
                if next + 20 != end {
                    return Err(ParseError::BadRdata);
                }
                let field = |i: usize| read_u32(msg, next + 4 * i);
                RData::Soa(Soa {
                    mname,
                    rname,
                    serial: field(0)?,
                    refresh: field(1)?,
                    retry: field(2)?,
                    expire: field(3)?,
                    minimum: field(4)?,
                })
            }
            Type::SRV if class == Class::IN => {
                let priority = u16_at(start)?;
                let weight = u16_at(start + 2)?;
                let port = u16_at(start + 4)?;
                let (target, next) = rdata_name(msg, start + 6, end)?;
                exact(
                    RData::Srv {
                        priority,
                        weight,
                        port,
                        target,
                    },
                    next,
                    end,
                )?
            }
            Type::TXT => {
                if raw.is_empty() {
                    return Err(ParseError::BadRdata);
                }
                let mut p = 0;
                while p < raw.len() {
                    let n = usize::from(*raw.get(p).ok_or(ParseError::BadRdata)?);
                    p += 1 + n;
                }
                exact(RData::Txt(raw), p, raw.len())?
            }
            Type::OPT => {
                let mut p = 0;
                while p < raw.len() {
                    let len = match raw.get(p + 2..p + 4) {
                        Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
                        _ => return Err(ParseError::BadRdata),
                    };
                    p += 4 + len;
                }
                exact(RData::Opt(raw), p, raw.len())?
            }
            t => match names_layout(t) {
                Some((has_preference, two)) => {
                    let (preference, at) = if has_preference {
                        (Some(u16_at(start)?), start + 2)
                    } else {
                        (None, start)
                    };
                    let (first, next) = rdata_name(msg, at, end)?;
                    let (second, next) = if two {
                        let (n, next) = rdata_name(msg, next, end)?;
                        (Some(n), next)
                    } else {
                        (None, next)
                    };
                    exact(
                        RData::Names {
                            preference,
                            first,
                            second,
                        },
                        next,
                        end,
                    )?
                }
                None => RData::Other(raw),
            },
        })
    }
}

/// A whole message, validated: the header, every question and every record.
///
/// Bytes after the last record are allowed and ignored ([`Message::trailing`] counts them).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
    header: Header,
    /// Offsets of the question, answer, authority and additional sections.
    sections: [usize; 4],
    end: usize,
}

/// The record sections of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Section {
    /// Answer records.
    Answer,
    /// Authority records.
    Authority,
    /// Additional records.
    Additional,
}

impl<'a> Message<'a> {
    /// Parses and validates the message in `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let header = Header::parse(buf)?;
        let mut pos = HEADER_LEN;
        let mut sections = [HEADER_LEN; 4];
        sections[0] = pos;
        for _ in 0..header.qdcount {
            pos = Question::parse(buf, pos)?.1;
        }
        let counts = [header.ancount, header.nscount, header.arcount];
        for (i, count) in counts.into_iter().enumerate() {
            sections[i + 1] = pos;
            for _ in 0..count {
                pos = Record::parse(buf, pos)?.1;
            }
        }
        Ok(Self {
            buf,
            header,
            sections,
            end: pos,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The questions.
    pub fn questions(&self) -> Questions<'a> {
        Questions {
            buf: self.buf,
            pos: self.sections[0],
            left: self.header.qdcount,
        }
    }

    /// The records of `section`.
    pub fn records(&self, section: Section) -> Records<'a> {
        let (pos, left) = match section {
            Section::Answer => (self.sections[1], self.header.ancount),
            Section::Authority => (self.sections[2], self.header.nscount),
            Section::Additional => (self.sections[3], self.header.arcount),
        };
        Records {
            buf: self.buf,
            pos,
            left,
        }
    }

    /// The length of the message proper (without trailing bytes).
    pub fn len(&self) -> usize {
        self.end
    }

    /// Always false: a message has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// How many bytes follow the last record.
    pub fn trailing(&self) -> usize {
        self.buf.len().saturating_sub(self.end)
    }
}

/// The questions of a [`Message`].
#[derive(Clone, Debug)]
pub struct Questions<'a> {
    buf: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for Questions<'a> {
    type Item = Question<'a>;

    fn next(&mut self) -> Option<Question<'a>> {
        self.left = self.left.checked_sub(1)?;
        let (q, pos) = Question::parse(self.buf, self.pos).ok()?;
        self.pos = pos;
        Some(q)
    }
}

/// The records of one section of a [`Message`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        self.left = self.left.checked_sub(1)?;
        let (r, pos) = Record::parse(self.buf, self.pos).ok()?;
        self.pos = pos;
        Some(r)
    }
}

/// The writer ran out of room; what was being written is incomplete (roll it back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message buffer full")
    }
}

/// How many name suffixes a writer remembers for compression. Later names are still written,
/// just not offered as compression targets.
const SUFFIXES: usize = 128;

#[derive(Clone, Copy, Debug, Default)]
struct Suffix {
    /// Where the suffix starts in the message (a label length byte).
    offset: u16,
    /// Its uncompressed length, root label included.
    len: u8,
}

/// A position to return to with [`Writer::rollback`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    len: usize,
    suffixes: usize,
}

/// Writes a message into a caller's buffer, compressing names.
///
/// Every method either writes all it was asked to or returns [`Full`] (having perhaps written
/// a part, which [`Writer::rollback`] removes). Nothing is ever written past the buffer, nor past
/// 65,535 bytes.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
    limit: usize,
    suffixes: [Suffix; SUFFIXES],
    n_suffixes: usize,
}

impl<'b> Writer<'b> {
    /// A writer that fills `buf` from its start.
    pub fn new(buf: &'b mut [u8]) -> Self {
        let limit = buf.len().min(MAX_MESSAGE_LEN);
        Self {
            buf,
            len: 0,
            limit,
            suffixes: [Suffix::default(); SUFFIXES],
            n_suffixes: 0,
        }
    }

    /// The bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The room left.
    pub fn remaining(&self) -> usize {
        self.limit - self.len
    }

    /// The written message.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// The current position, to [`rollback`](Self::rollback) to.
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.len,
            suffixes: self.n_suffixes,
        }
    }

    /// Forgets everything written since `mark` (and the names it offered for compression).
    pub fn rollback(&mut self, mark: Mark) {
        if mark.len <= self.len {
            self.len = mark.len;
            self.n_suffixes = mark.suffixes.min(self.n_suffixes);
        }
    }

    /// Keeps `n` bytes at the end of the buffer free (for an OPT record written last).
    pub fn reserve(&mut self, n: usize) -> Result<(), Full> {
        if self.remaining() < n {
            return Err(Full);
        }
        self.limit -= n;
        Ok(())
    }

    /// Gives back `n` reserved bytes.
    pub fn unreserve(&mut self, n: usize) {
        self.limit = (self.limit + n).min(self.buf.len()).min(MAX_MESSAGE_LEN);
    }

    /// Appends `bytes`.
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.len + bytes.len();
        if end > self.limit {
            return Err(Full);
        }
        self.buf
            .get_mut(self.len..end)
            .ok_or(Full)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Appends a 16-bit big-endian value.
    pub fn u16(&mut self, v: u16) -> Result<(), Full> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a 32-bit big-endian value.
    pub fn u32(&mut self, v: u32) -> Result<(), Full> {
        self.bytes(&v.to_be_bytes())
    }

    /// Writes `header` over the first 12 bytes (appending them when nothing was written yet).
    pub fn header(&mut self, header: &Header) -> Result<(), Full> {
        if self.len < HEADER_LEN {
            self.len = 0;
            return self.bytes(&header.to_bytes());
        }
        self.buf
            .get_mut(..HEADER_LEN)
            .ok_or(Full)?
            .copy_from_slice(&header.to_bytes());
        Ok(())
    }

    /// True when the name written at `offset` (following this writer's own pointers) has
    /// exactly the labels of `suffix`.
    fn name_at_equals(&self, offset: usize, suffix: &[u8]) -> bool {
        let written = Labels {
            buf: self.as_bytes(),
            pos: offset,
            hops: 0,
        };
        let wanted = Labels {
            buf: suffix,
            pos: 0,
            hops: 0,
        };
        written.eq(wanted)
    }

    /// Appends `name` (uncompressed wire bytes of a valid name, e.g. [`NameBuf::as_wire`]).
    ///
    /// With `compress`, the longest suffix already in the message (byte for byte) is replaced
    /// by a pointer to it. Either way, the name's suffixes are remembered as targets for later
    /// names. Bytes that are not a valid uncompressed name return [`Full`] after a partial
    /// write (roll it back), like a lack of room.
    pub fn name(&mut self, name: &[u8], compress: bool) -> Result<(), Full> {
        let mut pos = 0;
        let mut known = false;
        loop {
            let n = usize::from(*name.get(pos).ok_or(Full)?);
            if n == 0 {
                return self.bytes(&[0]);
            }
            if n > MAX_LABEL_LEN {
                return Err(Full);
            }
            let suffix = name.get(pos..).unwrap_or_default();
            if !known {
                let found = self
                    .suffixes
                    .get(..self.n_suffixes)
                    .unwrap_or_default()
                    .iter()
                    .find(|s| {
                        usize::from(s.len) == suffix.len()
                            && self.name_at_equals(usize::from(s.offset), suffix)
                    })
                    .map(|s| s.offset);
                if let Some(offset) = found {
                    if compress {
                        return self.u16(0xc000 | offset);
                    }
                    // Written out anyway (SRV targets); this suffix and the shorter ones are
                    // already offered, so none of them is remembered again.
                    known = true;
                }
            }
            if !known && self.len <= 0x3fff && self.n_suffixes < SUFFIXES {
                if let Some(slot) = self.suffixes.get_mut(self.n_suffixes) {
                    // suffix.len() <= 255 and self.len <= 0x3fff here.
                    *slot = Suffix {
                        offset: self.len as u16,
                        len: suffix.len() as u8,
                    };
                    self.n_suffixes += 1;
                }
            }
            self.bytes(name.get(pos..pos + 1 + n).ok_or(Full)?)?;
            pos += 1 + n;
        }
    }

    /// Appends a question.
    pub fn question(&mut self, name: &[u8], qtype: Type, qclass: Class) -> Result<(), Full> {
        self.name(name, true)?;
        self.u16(qtype.0)?;
        self.u16(qclass.0)
    }

    /// Appends a record's owner, type, class and TTL, and a placeholder RDLENGTH; returns the
    /// offset to give to [`end_record`](Self::end_record) once the RDATA is written.
    pub fn begin_record(
        &mut self,
        owner: &[u8],
        rtype: Type,
        class: Class,
        ttl: u32,
    ) -> Result<usize, Full> {
        self.name(owner, true)?;
        self.u16(rtype.0)?;
        self.u16(class.0)?;
        self.u32(ttl)?;
        let at = self.len;
        self.u16(0)?;
        Ok(at)
    }

    /// Fills in the RDLENGTH at `at` (from [`begin_record`](Self::begin_record)).
    pub fn end_record(&mut self, at: usize) -> Result<(), Full> {
        let rdlen = self.len.checked_sub(at + 2).ok_or(Full)?;
        let rdlen = u16::try_from(rdlen).map_err(|_| Full)?;
        self.buf
            .get_mut(at..at + 2)
            .ok_or(Full)?
            .copy_from_slice(&rdlen.to_be_bytes());
        Ok(())
    }

    /// Appends a parsed record (names re-compressed against this message, SRV targets not).
    pub fn record(&mut self, record: &Record<'_>) -> Result<(), Full> {
        let owner = record.name.to_buf();
        let at = self.begin_record(owner.as_wire(), record.rtype, record.class, record.ttl)?;
        self.rdata(&record.data)?;
        self.end_record(at)
    }

    /// Appends parsed record data.
    pub fn rdata(&mut self, data: &RData<'_>) -> Result<(), Full> {
        match data {
            RData::A(a) => self.bytes(&a.octets()),
            RData::Aaaa(a) => self.bytes(&a.octets()),
            RData::Ns(n) | RData::Cname(n) | RData::Ptr(n) => self.name(n.to_buf().as_wire(), true),
            RData::Mx {
                preference,
                exchange,
            } => {
                self.u16(*preference)?;
                self.name(exchange.to_buf().as_wire(), true)
            }
            RData::Soa(soa) => {
                self.name(soa.mname.to_buf().as_wire(), true)?;
                self.name(soa.rname.to_buf().as_wire(), true)?;
                for v in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
                    self.u32(v)?;
                }
                Ok(())
            }
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                self.u16(*priority)?;
                self.u16(*weight)?;
                self.u16(*port)?;
                self.name(target.to_buf().as_wire(), false)
            }
            RData::Names {
                preference,
                first,
                second,
            } => {
                if let Some(p) = preference {
                    self.u16(*p)?;
                }
                // Written whole: compression is optional for these types, and some readers do
                // not expect it.
                self.name(first.to_buf().as_wire(), false)?;
                match second {
                    Some(n) => self.name(n.to_buf().as_wire(), false),
                    None => Ok(()),
                }
            }
            RData::Txt(raw) | RData::Opt(raw) | RData::Other(raw) => self.bytes(raw),
        }
    }

    /// The length of the message written.
    pub fn finish(self) -> usize {
        self.len
    }
}

#[cfg(test)]
pub(crate) mod tests;
