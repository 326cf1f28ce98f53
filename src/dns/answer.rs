//! Answering one query from a [`Zone`] into a caller's buffer. Nothing here allocates.

use super::wire::{
    Class, Full, Header, Message, NameBuf, Opcode, Question, Rcode, Record, Section, Type, Writer,
    HEADER_LEN, MAX_MESSAGE_LEN,
};
use super::zone::{soa_timers, Data, Lookup, Node, Zone};

/// The transport a query came over, which decides how large the response may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: 512 bytes, or the EDNS(0) buffer size the query advertises (at most
    /// [`ZoneConfig::udp_payload_size`](super::ZoneConfig::udp_payload_size)).
    Udp,
    /// TCP (the caller handles the two-byte length prefix): up to 65,535 bytes.
    Tcp,
}

/// A response written by [`Zone::answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Response {
    /// Its length: the response is `out[..len]`.
    pub len: usize,
    /// The response code as written (extended codes such as BADVERS included when the OPT
    /// carrying them fit).
    pub rcode: Rcode,
    /// TC is set: the answer did not fit (the client should retry over TCP).
    pub truncated: bool,
    /// AA is set: the name is inside the zones.
    pub authoritative: bool,
}

/// Why [`Zone::answer`] wrote nothing; the caller sends no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoAnswer {
    /// Fewer than 12 bytes: not even a header to answer to.
    TooShort,
    /// The message is a response (QR set); answering it could start a loop between servers.
    NotAQuery,
    /// The output buffer cannot hold a 12-byte header.
    BufferTooSmall,
}

impl core::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TooShort => "query shorter than a DNS header",
            Self::NotAQuery => "message is a response",
            Self::BufferTooSmall => "output buffer shorter than a DNS header",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NoAnswer {}

/// CNAMEs followed inside the zone before the answer stops (ExternalName Services pointing at
/// each other).
const MAX_CNAME_CHAIN: usize = 8;
/// An OPT record without options: root name, type, class, TTL, RDLENGTH.
const OPT_LEN: usize = 11;

const ANSWER: usize = 0;
const AUTHORITY: usize = 1;
const ADDITIONAL: usize = 2;

#[derive(Clone, Copy, Debug)]
struct Edns {
    udp_size: u16,
    version: u8,
    dnssec_ok: bool,
}

impl Edns {
    /// The parameters an OPT record carries.
    fn of(opt: &Record<'_>) -> Self {
        Self {
            udp_size: opt.class.0,
            version: (opt.ttl >> 16) as u8,
            dnssec_ok: opt.ttl & 0x8000 != 0,
        }
    }
}

/// What a query asks, or why it cannot be answered normally.
struct Request<'q> {
    question: Option<Question<'q>>,
    edns: Option<Edns>,
    error: Option<Rcode>,
}

/// The query's EDNS(0) parameters: OPT only in the additional section, at most once, owned by
/// the root (RFC 6891 §6.1.1); `Err` when it breaks those rules.
fn edns_of(msg: &Message<'_>) -> Result<Option<Edns>, ()> {
    let misplaced = [Section::Answer, Section::Authority]
        .into_iter()
        .any(|s| msg.records(s).any(|r| r.rtype == Type::OPT));
    if misplaced {
        return Err(());
    }
    let mut edns = None;
    for r in msg.records(Section::Additional) {
        if r.rtype != Type::OPT {
            continue;
        }
        if edns.is_some() || !r.name.is_root() {
            return Err(());
        }
        edns = Some(Edns::of(&r));
    }
    Ok(edns)
}

/// The EDNS(0) parameters of a query that does not parse as a whole: its OPT when one was read
/// before the error, under the rules of [`edns_of`] (an OPT outside the additional section, a
/// second one or one not owned by the root among the records read means none). So a query
/// with a good OPT followed by a broken record still gets its error with an OPT (RFC 6891
/// §6.1.1, §7).
fn edns_before_error(query: &[u8], header: &Header) -> Option<Edns> {
    let mut pos = HEADER_LEN;
    for _ in 0..header.qdcount {
        pos = Question::parse(query, pos).ok()?.1;
    }
    let mut edns = None;
    let counts = [header.ancount, header.nscount, header.arcount];
    for (section, count) in counts.into_iter().enumerate() {
        for _ in 0..count {
            let Ok((r, next)) = Record::parse(query, pos) else {
                return edns;
            };
            if r.rtype == Type::OPT {
                if section != ADDITIONAL || edns.is_some() || !r.name.is_root() {
                    return None;
                }
                edns = Some(Edns::of(&r));
            }
            pos = next;
        }
    }
    edns
}

/// Reads the query. The response carries an OPT whenever the query's OPT could be read, so an
/// EDNS client never takes an error for a lack of EDNS support.
fn read_request<'q>(query: &'q [u8], header: &Header) -> Request<'q> {
    let first_question = || {
        (header.qdcount == 1)
            .then(|| Question::parse(query, HEADER_LEN).ok().map(|(q, _)| q))
            .flatten()
    };
    let fail = |rcode, question, edns| Request {
        question,
        edns,
        error: Some(rcode),
    };
    let msg = Message::parse(query);
    if header.opcode != Opcode::QUERY {
        let edns = match msg {
            Ok(m) => edns_of(&m).ok().flatten(),
            Err(_) => edns_before_error(query, header),
        };
        return fail(Rcode::NOTIMP, first_question(), edns);
    }
    let Ok(msg) = msg else {
        return fail(
            Rcode::FORMERR,
            first_question(),
            edns_before_error(query, header),
        );
    };
    let Ok(edns) = edns_of(&msg) else {
        return fail(Rcode::FORMERR, first_question(), None);
    };
    if header.qdcount != 1 {
        return fail(Rcode::FORMERR, None, edns);
    }
    let error = edns.filter(|e| e.version != 0).map(|_| Rcode::BADVERS);
    Request {
        question: msg.questions().next(),
        edns,
        error,
    }
}

/// The response being written: the writer, the section counts and TC.
struct Out<'b> {
    w: Writer<'b>,
    counts: [u16; 3],
    truncated: bool,
}

impl<'b> Out<'b> {
    /// Writes the records of `set`, owned by `owner`, into the answer section: as many whole
    /// records as fit, in order. The first that does not fit sets TC and ends the answer and
    /// authority sections; the records written before it stay (RFC 2181 §9 allows a partial
    /// RRset with TC set; CoreDNS does the same, and a client that does not retry over TCP,
    /// such as musl before 1.2.4, still gets addresses). True when every record was written.
    fn answer(&mut self, zone: &Zone, owner: &[u8], set: &[Data]) -> bool {
        for data in set {
            if self.truncated {
                return false;
            }
            let mark = self.w.mark();
            match zone.write_rr(&mut self.w, owner, data, zone.config.ttl) {
                Ok(()) => {
                    if let Some(c) = self.counts.get_mut(ANSWER) {
                        *c = c.saturating_add(1);
                    }
                }
                Err(Full) => {
                    self.w.rollback(mark);
                    self.truncated = true;
                }
            }
        }
        !self.truncated
    }

    /// Writes one RRset into `section` (authority or additional), all of it or nothing. An
    /// RRset that does not fit in the authority section sets TC and ends it (RFC 2181 §9); in
    /// the additional section it is just left out.
    fn rrset(
        &mut self,
        section: usize,
        f: impl FnOnce(&mut Writer<'b>) -> Result<u16, Full>,
    ) -> bool {
        if self.truncated && section != ADDITIONAL {
            return false;
        }
        let mark = self.w.mark();
        match f(&mut self.w) {
            Ok(n) => {
                if let Some(c) = self.counts.get_mut(section) {
                    *c = c.saturating_add(n);
                }
                true
            }
            Err(Full) => {
                self.w.rollback(mark);
                if section != ADDITIONAL {
                    self.truncated = true;
                }
                false
            }
        }
    }
}

/// What orders an RRset's records before their target: an SRV record's priority, weight and
/// port (`Data`'s derived order compares them first); nothing for NS.
fn group_of(d: &Data) -> (u16, u16, u16) {
    match d {
        Data::Srv {
            priority,
            weight,
            port,
            ..
        } => (*priority, *weight, *port),
        _ => (0, 0, 0),
    }
}

/// Whether a record of `set` before index `i` names `target`. `set` is sorted (a zone's RRsets
/// are), so it is a run of groups of equal [`group_of`], each sorted by target: each earlier
/// group is found and searched by bisection, O(groups · log n) without allocating. (A target
/// appears in more than one group when, say, one endpoint is listed under two port numbers.)
fn named_before(set: &[Data], i: usize, target: &[u8]) -> bool {
    let before = set.get(..i).unwrap_or_default();
    let mut start = 0;
    while let Some(first) = before.get(start) {
        let group = group_of(first);
        let rest = before.get(start..).unwrap_or_default();
        let len = rest.partition_point(|d| group_of(d) == group).max(1);
        let run = rest.get(..len).unwrap_or_default();
        if run
            .binary_search_by(|d| d.target().unwrap_or_default().cmp(target))
            .is_ok()
        {
            return true;
        }
        start += len;
    }
    false
}

/// The records of type `rtype` among `records` (which are grouped by type).
fn rrset_of(records: &[Data], rtype: Type) -> &[Data] {
    let Some(start) = records.iter().position(|d| d.rtype() == rtype) else {
        return &[];
    };
    let rest = records.get(start..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|d| d.rtype() != rtype)
        .unwrap_or(rest.len());
    rest.get(..len).unwrap_or_default()
}

impl Zone {
    /// Answers the DNS message `query` into `out` and returns the response's length and
    /// outcome; `Err` means no response at all (see [`NoAnswer`]). Never panics and never
    /// allocates, whatever the bytes.
    ///
    /// The response fits in `out` and in the `transport`'s limit; when the answer does not, TC
    /// is set and the answer records that fit are kept, whole records in order (see the
    /// [module documentation](super)).
    pub fn answer(
        &self,
        query: &[u8],
        transport: Transport,
        out: &mut [u8],
    ) -> Result<Response, NoAnswer> {
        let header = Header::parse(query).map_err(|_| NoAnswer::TooShort)?;
        if header.qr {
            return Err(NoAnswer::NotAQuery);
        }
        if out.len() < HEADER_LEN {
            return Err(NoAnswer::BufferTooSmall);
        }
        let request = read_request(query, &header);
        let limit = match transport {
            Transport::Tcp => MAX_MESSAGE_LEN,
            Transport::Udp => request.edns.map_or(512, |e| {
                usize::from(e.udp_size.clamp(512, self.udp_payload_size))
            }),
        }
        .min(out.len());
        let buf = out.get_mut(..limit).ok_or(NoAnswer::BufferTooSmall)?;
        let mut response = Header {
            id: header.id,
            qr: true,
            opcode: header.opcode,
            rd: header.rd,
            cd: header.cd,
            ..Header::default()
        };
        let mut o = Out {
            w: Writer::new(buf),
            counts: [0; 3],
            truncated: false,
        };
        o.w.header(&response)
            .map_err(|_| NoAnswer::BufferTooSmall)?;
        let after_header = o.w.mark();
        let mut qdcount = 0;
        let mut asked = None;
        if let Some(q) = request.question {
            let name = q.name.to_buf();
            if o.w.question(name.as_wire(), q.qtype, q.qclass).is_ok() {
                qdcount = 1;
                asked = Some((name, q.qtype, q.qclass));
            } else {
                // Not even the question fits: header only, TC.
                o.w.rollback(after_header);
                o.truncated = true;
            }
        }
        let opt = request
            .edns
            .filter(|_| !o.truncated && o.w.reserve(OPT_LEN).is_ok());
        if request.edns.is_some() && opt.is_none() {
            o.truncated = true;
        }
        let (rcode, authoritative) = match (request.error, asked) {
            (Some(rcode), _) => (rcode, false),
            (None, Some((name, qtype, qclass))) => self.resolve(&mut o, &name, qtype, qclass),
            (None, None) => (Rcode::NOERROR, false),
        };
        let mut rcode = rcode;
        if let Some(edns) = opt {
            o.w.unreserve(OPT_LEN);
            let ttl = u32::from(rcode.extended_bits()) << 24 | u32::from(edns.dnssec_ok) << 15;
            let written = o.rrset(ADDITIONAL, |w| {
                let at = w.begin_record(&[0], Type::OPT, Class(self.udp_payload_size), ttl)?;
                w.end_record(at)?;
                Ok(1)
            });
            if !written {
                o.truncated = true;
            }
        }
        if opt.is_none() && rcode.extended_bits() != 0 {
            // No room for the OPT that would carry it: the response is truncated (TC) and says
            // only what its header can.
            rcode = Rcode(u16::from(rcode.header_bits()));
        }
        response.rcode = rcode.header_bits();
        response.aa = authoritative;
        response.tc = o.truncated;
        response.qdcount = qdcount;
        [response.ancount, response.nscount, response.arcount] = o.counts;
        o.w.header(&response)
            .map_err(|_| NoAnswer::BufferTooSmall)?;
        Ok(Response {
            len: o.w.len(),
            rcode,
            truncated: o.truncated,
            authoritative,
        })
    }

    /// Fills the answer, authority and additional sections for `qname`/`qtype`; returns the
    /// response code and whether the answer is authoritative.
    fn resolve(
        &self,
        o: &mut Out<'_>,
        qname: &NameBuf,
        qtype: Type,
        qclass: Class,
    ) -> (Rcode, bool) {
        if qclass != Class::IN && qclass != Class::ANY {
            return (Rcode::REFUSED, false);
        }
        match qtype {
            Type::OPT => return (Rcode::FORMERR, false),
            Type::AXFR | Type::IXFR | Type::MAILA | Type::MAILB | Type::TKEY | Type::TSIG => {
                return (Rcode::NOTIMP, false)
            }
            _ => {}
        }
        let mut owner = *qname;
        // The names the chain has visited: a CNAME back to one of them is a loop, answered
        // once (RFC 1034 §3.6.2; RFC 2181 §5: no duplicate records).
        let mut visited: [Option<&Node>; MAX_CNAME_CHAIN + 1] = [None; MAX_CNAME_CHAIN + 1];
        for hop in 0..=MAX_CNAME_CHAIN {
            let mut key = owner;
            key.make_ascii_lowercase();
            let node = match self.lookup(key.as_wire()) {
                Lookup::Outside if hop == 0 => return (Rcode::REFUSED, false),
                // A CNAME out of the zones: the client's resolver follows it.
                Lookup::Outside => return (Rcode::NOERROR, true),
                Lookup::NxDomain(zone) => {
                    self.negative(o, zone);
                    return (Rcode::NXDOMAIN, true);
                }
                Lookup::Empty(zone) => {
                    self.negative(o, zone);
                    return (Rcode::NOERROR, true);
                }
                Lookup::Pod(ip) => {
                    self.pod(o, owner.as_wire(), qtype, ip);
                    return (Rcode::NOERROR, true);
                }
                Lookup::Found(node) => node,
            };
            if visited.iter().flatten().any(|v| core::ptr::eq(*v, node)) {
                return (Rcode::NOERROR, true);
            }
            if let Some(slot) = visited.get_mut(hop) {
                *slot = Some(node);
            }
            let records = self.records_of(node);
            let owner_wire = owner.as_wire();
            if qtype == Type::ANY && !records.is_empty() {
                for set in records.chunk_by(|a, b| a.rtype() == b.rtype()) {
                    if !o.answer(self, owner_wire, set) {
                        break;
                    }
                }
                return (Rcode::NOERROR, true);
            }
            let cname = rrset_of(records, Type::CNAME);
            if qtype != Type::CNAME {
                if let Some(Data::Cname(target)) = cname.first() {
                    if !o.answer(self, owner_wire, cname) {
                        return (Rcode::NOERROR, true);
                    }
                    match NameBuf::from_wire(target) {
                        Ok(next) => owner = next,
                        Err(_) => return (Rcode::NOERROR, true),
                    }
                    continue;
                }
            }
            let set = rrset_of(records, qtype);
            if set.is_empty() {
                // NODATA: the name exists without records of this type.
                self.negative(o, node.zone);
            } else if o.answer(self, owner_wire, set) {
                // Additional records only for a whole answer: after a truncated one there is
                // no room worth filling.
                self.additional(o, set);
            }
            return (Rcode::NOERROR, true);
        }
        (Rcode::NOERROR, true)
    }

    /// The answer at a pod name read from the query ([`PodRecords::Insecure`]): its address
    /// for A (IPv4) or AAAA (IPv6), and for ANY; NODATA for any other type. The record is
    /// built on the stack.
    ///
    /// [`PodRecords::Insecure`]: super::PodRecords::Insecure
    fn pod(&self, o: &mut Out<'_>, owner: &[u8], qtype: Type, ip: core::net::IpAddr) {
        let data = match ip {
            core::net::IpAddr::V4(a) => Data::A(a),
            core::net::IpAddr::V6(a) => Data::Aaaa(a),
        };
        if qtype == data.rtype() || qtype == Type::ANY {
            o.answer(self, owner, core::slice::from_ref(&data));
        } else {
            self.negative(o, 0);
        }
    }

    /// The SOA of zone `zone` in the authority section, with the negative TTL (RFC 2308 §3).
    fn negative(&self, o: &mut Out<'_>, zone: u32) {
        let ttl = self.config.ttl.min(self.config.negative_ttl);
        let apex = self.apex(zone);
        o.rrset(AUTHORITY, |w| {
            self.write_rr(w, apex, &Data::Soa, ttl)?;
            Ok(1)
        });
    }

    /// The addresses of the targets of `set` (SRV, NS) as additional records, where they fit,
    /// once per target even when several records name it.
    fn additional(&self, o: &mut Out<'_>, set: &[Data]) {
        for (i, data) in set.iter().enumerate() {
            let Some(target) = data.target() else {
                continue;
            };
            if named_before(set, i, target) {
                continue;
            }
            let Ok(mut key) = NameBuf::from_wire(target) else {
                continue;
            };
            key.make_ascii_lowercase();
            if let Lookup::Found(node) = self.lookup(key.as_wire()) {
                let records = self.records_of(node);
                for rtype in [Type::A, Type::AAAA] {
                    let addresses = rrset_of(records, rtype);
                    if !addresses.is_empty() {
                        o.rrset(ADDITIONAL, |w| self.write_set(w, target, addresses));
                    }
                }
            }
        }
    }

    fn write_set(&self, w: &mut Writer<'_>, owner: &[u8], set: &[Data]) -> Result<u16, Full> {
        for data in set {
            self.write_rr(w, owner, data, self.config.ttl)?;
        }
        u16::try_from(set.len()).map_err(|_| Full)
    }

    fn write_rr(
        &self,
        w: &mut Writer<'_>,
        owner: &[u8],
        data: &Data,
        ttl: u32,
    ) -> Result<(), Full> {
        let at = w.begin_record(owner, data.rtype(), Class::IN, ttl)?;
        match data {
            Data::A(a) => w.bytes(&a.octets())?,
            Data::Aaaa(a) => w.bytes(&a.octets())?,
            Data::Ns(n) | Data::Cname(n) | Data::Ptr(n) => w.name(n, true)?,
            Data::Txt(t) => w.bytes(t)?,
            Data::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                w.u16(*priority)?;
                w.u16(*weight)?;
                w.u16(*port)?;
                // RFC 2782: SRV targets are not compressed.
                w.name(target, false)?;
            }
            Data::Soa => {
                w.name(self.mname.as_wire(), true)?;
                w.name(self.rname.as_wire(), true)?;
                w.u32(self.config.serial)?;
                for v in soa_timers() {
                    w.u32(v)?;
                }
                w.u32(self.config.negative_ttl)?;
            }
        }
        w.end_record(at)
    }
}
