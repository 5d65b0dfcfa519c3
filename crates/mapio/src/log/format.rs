//! The log's on-disk format: constants mirroring `FORMAT.md`, the header
//! page, `word0`, and record framing. No I/O.
//!
//! ```text
//! file    = header(4096 bytes) record* [zeros]
//! record  = word0 crc:u32 payload_len:u32 [key:u64] [prev:u64] [time:f64] payload pad
//! ```

use crate::array::dtype::DType;

/// The bytes every log starts with.
pub const MAGIC: [u8; 8] = *b"MAPIOLOG";
/// The format version this code writes and the newest it reads.
pub const VERSION: u32 = 1;
/// Length of the header page; the first record starts here.
pub const HEADER_LEN: u64 = 4096;

// Header offsets (FORMAT.md 1.1), chained like the table.
/// `magic`
pub const OFF_MAGIC: usize = 0;
/// `version`
pub const OFF_VERSION: usize = OFF_MAGIC + 8;
/// `header_len`
pub const OFF_HEADER_LEN: usize = OFF_VERSION + 4;
/// `created_ns`
pub const OFF_CREATED: usize = OFF_HEADER_LEN + 4;
/// `field_count`
pub const OFF_FIELD_COUNT: usize = OFF_CREATED + 8;
/// `payload_len`
pub const OFF_PAYLOAD_LEN: usize = OFF_FIELD_COUNT + 4;
/// End of the immutable fixed fields.
pub const IMMUTABLE_END: usize = 256;
/// `tail`: the reservation counter.
pub const OFF_TAIL: usize = 256;
/// `allocated`
pub const OFF_ALLOCATED: usize = 320;
/// `synced`
pub const OFF_SYNCED: usize = OFF_ALLOCATED + 8;
/// `state`
pub const OFF_STATE: usize = OFF_SYNCED + 8;
/// `sessions`
pub const OFF_SESSIONS: usize = OFF_STATE + 8;
/// `session_start`
pub const OFF_SESSION_START: usize = OFF_SESSIONS + 8;
/// The schema table.
pub const OFF_FIELDS: usize = 512;
/// One schema entry.
pub const FIELD_LEN: usize = 48;
/// `header_crc`
pub const OFF_HEADER_CRC: usize = 4092;
/// The most schema fields that fit.
pub const MAX_FIELDS: usize = (OFF_HEADER_CRC - OFF_FIELDS) / FIELD_LEN;

/// `state`: open for writing, or crashed.
pub const STATE_OPEN: u64 = 0;
/// `state`: closed cleanly.
pub const STATE_CLOSED: u64 = 1;

/// `word0`'s tag, bits 48–63.
pub const TAG: u64 = 0x4C47;
/// Bytes before the optional fields: `word0`, `crc`, `payload_len`.
pub const FIXED_LEN: u64 = 16;
/// Length of an end record.
pub const END_LEN: u64 = 16;
/// Longest record (the `len` field is 32 bits).
pub const MAX_RECORD_LEN: u64 = u32::MAX as u64 - 7;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Application data.
    Data = 1,
    /// Space reserved but never written; skipped.
    Padding = 2,
    /// Written by `close()`.
    End = 3,
}

/// Record flags (bits 40–47 of `word0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// The object was created by this record.
    pub const CREATE: Flags = Flags(1);
    /// The object was deleted by this record (its last).
    pub const DELETE: Flags = Flags(2);
    /// The object entered this file from another (multi-file sets).
    pub const ENTER: Flags = Flags(4);
    /// The object left this file for another.
    pub const EXIT: Flags = Flags(8);
    /// No flags.
    pub const NONE: Flags = Flags(0);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// The decoded `word0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word0 {
    /// Whole record length in bytes.
    pub len: u32,
    /// Kind.
    pub kind: Kind,
    /// A key field is present.
    pub has_key: bool,
    /// A prev field is present.
    pub has_prev: bool,
    /// A time field is present.
    pub has_time: bool,
    /// Flags.
    pub flags: Flags,
}

impl Word0 {
    /// Packs into the 64-bit word.
    pub fn pack(&self) -> u64 {
        (self.len as u64)
            | ((self.kind as u64) << 32)
            | ((self.has_key as u64) << 36)
            | ((self.has_prev as u64) << 37)
            | ((self.has_time as u64) << 38)
            | ((self.flags.0 as u64) << 40)
            | (TAG << 48)
    }

    /// Unpacks; `None` for zero, a wrong tag, an unknown kind, a reserved
    /// bit set, or a length that cannot be a record.
    pub fn unpack(w: u64) -> Option<Word0> {
        if w >> 48 != TAG || w & (1 << 39) != 0 {
            return None;
        }
        let kind = match (w >> 32) & 0xF {
            1 => Kind::Data,
            2 => Kind::Padding,
            3 => Kind::End,
            _ => return None,
        };
        let len = w as u32;
        let word = Word0 {
            len,
            kind,
            has_key: w & (1 << 36) != 0,
            has_prev: w & (1 << 37) != 0,
            has_time: w & (1 << 38) != 0,
            flags: Flags((w >> 40) as u8),
        };
        // A padding record may be a lone `word0` (8 bytes): recovery
        // needs it to fill a gap of 8 bytes.
        let min = if kind == Kind::Padding && word.optional_count() == 0 {
            8
        } else {
            word.header_len()
        };
        if !len.is_multiple_of(8) || (len as u64) < min {
            return None;
        }
        if kind == Kind::End && (len as u64 != END_LEN || word.optional_count() != 0) {
            return None;
        }
        Some(word)
    }

    /// Number of optional fields present.
    pub fn optional_count(&self) -> u64 {
        self.has_key as u64 + self.has_prev as u64 + self.has_time as u64
    }

    /// Bytes before the payload.
    pub fn header_len(&self) -> u64 {
        FIXED_LEN + 8 * self.optional_count()
    }
}

/// Length of a record with `optional` optional fields and a payload of
/// `payload` bytes, padded to 8; `None` if too long.
pub fn record_len(optional: u64, payload: usize) -> Option<u64> {
    let n = (FIXED_LEN + 8 * optional).checked_add(payload as u64)?;
    let n = n.checked_next_multiple_of(8)?;
    (n <= MAX_RECORD_LEN).then_some(n)
}

/// The longest field name, in bytes.
pub const MAX_FIELD_NAME: usize = 31;

/// Names a field may not take: `mapio export` / `LogSet::export` write
/// these columns next to the fields' (`key.npy`, `time.npy`, ...).
pub const RESERVED_FIELD_NAMES: [&str; 4] = ["key", "time", "offset", "file"];

/// The rule for a field name (FORMAT.md 1.2): an ASCII identifier
/// `[A-Za-z_][A-Za-z0-9_]*` of 1 to [`MAX_FIELD_NAME`] bytes that is not
/// one of [`RESERVED_FIELD_NAMES`]. Names become file names
/// (`NAME.npy`), so nothing else (no `/`, `.`, `..`, control character)
/// may ever get through. Uniqueness is checked by [`Schema::field`] and
/// by header decoding, which both apply this rule.
pub fn check_field_name(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let identifier = matches!(b.first(), Some(c) if c.is_ascii_alphabetic() || *c == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if !identifier || b.len() > MAX_FIELD_NAME {
        return Err(format!(
            "field name {name:?} is not allowed: a name is an ASCII identifier \
             ([A-Za-z_][A-Za-z0-9_]*) of 1 to {MAX_FIELD_NAME} bytes"
        ));
    }
    if RESERVED_FIELD_NAMES.contains(&name) {
        return Err(format!(
            "field name {name:?} is reserved: export writes its own {name}.npy \
             (reserved: {})",
            RESERVED_FIELD_NAMES.join(", ")
        ));
    }
    Ok(())
}

/// A schema field: a named slice of the payload with a NumPy dtype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Name: an ASCII identifier of 1 to 31 bytes (see
    /// [`check_field_name`]).
    pub name: String,
    /// Element dtype.
    pub dtype: DType,
    /// Elements (3 for a 3-vector).
    pub count: u32,
    /// Byte offset inside the payload.
    pub offset: u32,
}

impl Field {
    /// Bytes the field occupies.
    pub fn len(&self) -> usize {
        self.dtype.itemsize() * self.count as usize
    }

    /// Whether the field is zero bytes long.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The payload layout of a log's records, stored in its header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<Field>,
    payload_len: u32,
}

impl Schema {
    /// No fields.
    pub fn new() -> Schema {
        Schema::default()
    }

    /// Appends a field of `count` elements of `dtype` after the previous
    /// ones (packed, no alignment padding). The name must follow
    /// [`check_field_name`] and be new to the schema; otherwise, or when
    /// the payload would grow too large, an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    pub fn field(mut self, name: &str, dtype: DType, count: u32) -> crate::Result<Schema> {
        self.check_new_name(name).map_err(crate::Error::invalid)?;
        let f = Field {
            name: name.to_string(),
            dtype,
            count,
            offset: self.payload_len,
        };
        let end = (self.payload_len as u64) + f.len() as u64;
        if end > u32::MAX as u64 / 2 {
            return Err(crate::Error::invalid(format!(
                "schema payload too large with field {name:?} ({end} bytes)"
            )));
        }
        self.payload_len = end as u32;
        self.fields.push(f);
        Ok(self)
    }

    /// Whether a field called `name` may be added: the name rule
    /// ([`check_field_name`]), a name not yet used, room for one more
    /// field. The one check of both [`Schema::field`] and header decoding.
    fn check_new_name(&self, name: &str) -> Result<(), String> {
        check_field_name(name)?;
        if self.fields.iter().any(|f| f.name == name) {
            return Err(format!("field {name:?} appears twice"));
        }
        if self.fields.len() >= MAX_FIELDS {
            return Err(format!("a schema has at most {MAX_FIELDS} fields"));
        }
        Ok(())
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Payload bytes the fields cover.
    pub fn payload_len(&self) -> usize {
        self.payload_len as usize
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The field called `name`.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The immutable part of a log header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Creation time, ns since the epoch.
    pub created_ns: u64,
    /// The payload schema (may be empty).
    pub schema: Schema,
}

fn le_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn header_crc(page: &[u8]) -> u32 {
    let c = crc32c::crc32c(&page[..IMMUTABLE_END]);
    crc32c::crc32c_append(c, &page[OFF_FIELDS..OFF_HEADER_CRC])
}

/// Why a header page was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than a page.
    Truncated(usize),
    /// An empty file (0 bytes).
    Empty,
    /// Not a mapio log.
    BadMagic,
    /// Written by a newer mapio.
    UnknownVersion(u32),
    /// The checksum of the immutable part does not match.
    BadChecksum,
    /// A field is out of range.
    Invalid(String),
}

impl HeaderError {
    /// The error of opening the log at `path` with this header: a version
    /// this mapio does not know is a format mismatch
    /// ([`Mismatch::Unsupported`](crate::Mismatch::Unsupported)), anything
    /// else corruption.
    pub(crate) fn for_file(self, path: &std::path::Path) -> crate::Error {
        match self {
            HeaderError::UnknownVersion(_) => {
                crate::Error::mismatch(path, crate::Mismatch::Unsupported, self.to_string())
            }
            _ => crate::Error::corrupt(path, 0, self.to_string()),
        }
    }
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Truncated(n) => write!(
                f,
                "file is {n} bytes, shorter than a log header ({HEADER_LEN} bytes)"
            ),
            HeaderError::Empty => f.write_str("the file is empty (0 bytes), not a mapio log"),
            HeaderError::BadMagic => f.write_str("not a mapio log (wrong magic)"),
            HeaderError::UnknownVersion(v) => write!(
                f,
                "log format version {v} is newer than this mapio understands ({VERSION}); upgrade mapio"
            ),
            HeaderError::BadChecksum => {
                f.write_str("the log header is damaged (checksum mismatch)")
            }
            HeaderError::Invalid(s) => write!(f, "the log header is invalid: {s}"),
        }
    }
}

impl Header {
    /// A header for a new log.
    pub fn new(schema: Schema, created_ns: u64) -> Header {
        Header {
            version: VERSION,
            created_ns,
            schema,
        }
    }

    /// The header page (mutable counters zero except `tail` and
    /// `allocated`, which the caller sets).
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN as usize];
        p[OFF_MAGIC..OFF_MAGIC + 8].copy_from_slice(&MAGIC);
        p[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&self.version.to_le_bytes());
        p[OFF_HEADER_LEN..OFF_HEADER_LEN + 4].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        p[OFF_CREATED..OFF_CREATED + 8].copy_from_slice(&self.created_ns.to_le_bytes());
        let fields = self.schema.fields();
        p[OFF_FIELD_COUNT..OFF_FIELD_COUNT + 4]
            .copy_from_slice(&(fields.len() as u32).to_le_bytes());
        p[OFF_PAYLOAD_LEN..OFF_PAYLOAD_LEN + 4]
            .copy_from_slice(&self.schema.payload_len.to_le_bytes());
        for (i, f) in fields.iter().enumerate() {
            let o = OFF_FIELDS + i * FIELD_LEN;
            p[o..o + f.name.len()].copy_from_slice(f.name.as_bytes());
            let d = f.dtype.descr();
            p[o + 32..o + 32 + d.len().min(8)].copy_from_slice(&d.as_bytes()[..d.len().min(8)]);
            p[o + 40..o + 44].copy_from_slice(&f.count.to_le_bytes());
            p[o + 44..o + 48].copy_from_slice(&f.offset.to_le_bytes());
        }
        p[OFF_TAIL..OFF_TAIL + 8].copy_from_slice(&HEADER_LEN.to_le_bytes());
        let crc = header_crc(&p);
        p[OFF_HEADER_CRC..OFF_HEADER_CRC + 4].copy_from_slice(&crc.to_le_bytes());
        p
    }

    /// Reads a header page.
    pub fn decode(page: &[u8]) -> Result<Header, HeaderError> {
        if page.is_empty() {
            return Err(HeaderError::Empty);
        }
        if page.len() < HEADER_LEN as usize {
            if page.len() < 8 || page[..8] != MAGIC {
                return Err(HeaderError::BadMagic);
            }
            return Err(HeaderError::Truncated(page.len()));
        }
        if page[..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let version = le_u32(page, OFF_VERSION);
        if le_u32(page, OFF_HEADER_CRC) != header_crc(page) {
            // A newer version may lay out its header differently: say so
            // rather than "damaged" when the version is one we do not know.
            if version > VERSION {
                return Err(HeaderError::UnknownVersion(version));
            }
            return Err(HeaderError::BadChecksum);
        }
        if version != VERSION {
            return Err(HeaderError::UnknownVersion(version));
        }
        if le_u32(page, OFF_HEADER_LEN) as u64 != HEADER_LEN {
            return Err(HeaderError::Invalid("header_len is not 4096".into()));
        }
        let count = le_u32(page, OFF_FIELD_COUNT) as usize;
        if count > MAX_FIELDS {
            return Err(HeaderError::Invalid(format!("{count} schema fields")));
        }
        let payload_len = le_u32(page, OFF_PAYLOAD_LEN);
        let mut schema = Schema {
            fields: Vec::with_capacity(count),
            payload_len,
        };
        for i in 0..count {
            let o = OFF_FIELDS + i * FIELD_LEN;
            let name_bytes = &page[o..o + 32];
            let name_end = name_bytes.iter().position(|&b| b == 0).unwrap_or(32);
            let name = std::str::from_utf8(&name_bytes[..name_end])
                .map_err(|_| HeaderError::Invalid(format!("field {i}: name is not UTF-8")))?
                .to_string();
            // The same rule as `Schema::field`: a name becomes a file name
            // in `export`, so a crafted one must never get through.
            schema
                .check_new_name(&name)
                .map_err(|e| HeaderError::Invalid(format!("schema field {i}: {e}")))?;
            let d = &page[o + 32..o + 40];
            let d_end = d.iter().position(|&b| b == 0).unwrap_or(8);
            let d = std::str::from_utf8(&d[..d_end])
                .map_err(|_| HeaderError::Invalid(format!("field {i}: dtype is not ASCII")))?;
            let dtype = DType::parse(d)
                .map_err(|e| HeaderError::Invalid(format!("field {name:?}: {e}")))?;
            let count = le_u32(page, o + 40);
            let offset = le_u32(page, o + 44);
            let end = offset as u64 + dtype.itemsize() as u64 * count as u64;
            if end > payload_len as u64 {
                return Err(HeaderError::Invalid(format!(
                    "field {name:?} ends at byte {end}, past the payload ({payload_len} bytes)"
                )));
            }
            schema.fields.push(Field {
                name,
                dtype,
                count,
                offset,
            });
        }
        Ok(Header {
            version,
            created_ns: le_u64(page, OFF_CREATED),
            schema,
        })
    }
}

/// CRC of a record: bytes `12..body_end` (payload length, optional fields,
/// payload), then `word0`.
pub fn record_crc(body_from_12: &[u8], word0: u64) -> u32 {
    crate::sys::crc32c_parts(0, &[body_from_12, &word0.to_le_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn constants_match_format_md() {
        let doc = include_str!("../../../../FORMAT.md");
        let row = |off: usize, size: usize, name: &str| format!("| {off} | {size} | `{name}` |");
        for (off, size, name) in [
            (OFF_MAGIC, 8, "magic"),
            (OFF_VERSION, 4, "version"),
            (OFF_HEADER_LEN, 4, "header_len"),
            (OFF_CREATED, 8, "created_ns"),
            (OFF_FIELD_COUNT, 4, "field_count"),
            (OFF_PAYLOAD_LEN, 4, "payload_len"),
            (OFF_TAIL, 8, "tail"),
            (OFF_ALLOCATED, 8, "allocated"),
            (OFF_SYNCED, 8, "synced"),
            (OFF_STATE, 8, "state"),
            (OFF_SESSIONS, 8, "sessions"),
            (OFF_SESSION_START, 8, "session_start"),
            (OFF_HEADER_CRC, 4, "header_crc"),
        ] {
            assert!(
                doc.contains(&row(off, size, name)),
                "FORMAT.md lacks {}",
                row(off, size, name)
            );
        }
        assert!(doc.contains("| 512 | 48 × n | `fields` |"));
        assert!(doc.contains("`0x4C47`"));
        assert_eq!(TAG, 0x4C47);
        assert_eq!(&TAG.to_le_bytes()[..2], b"GL");
        assert!(doc.contains("| 1 | 0.1 | first version |"));
        assert_eq!(HEADER_LEN, 4096);
        const { assert!(OFF_FIELDS + MAX_FIELDS * FIELD_LEN <= OFF_HEADER_CRC) };
    }

    #[test]
    fn header_round_trip_and_refusals() {
        let schema = Schema::new()
            .field("pos", DType::F64, 3)
            .unwrap()
            .field("id", DType::U32, 1)
            .unwrap();
        assert_eq!(schema.payload_len(), 28);
        let h = Header::new(schema, 123);
        let page = h.encode();
        assert_eq!(Header::decode(&page).unwrap(), h);
        let mut bad = page.clone();
        bad[0] = b'X';
        assert_eq!(Header::decode(&bad), Err(HeaderError::BadMagic));
        let mut bad = page.clone();
        bad[600] ^= 1;
        assert_eq!(Header::decode(&bad), Err(HeaderError::BadChecksum));
        // Mutable counters are outside the checksum.
        let mut live = page.clone();
        live[OFF_TAIL] = 0x55;
        live[OFF_STATE] = 1;
        assert!(Header::decode(&live).is_ok());
        let mut newer = page.clone();
        newer[OFF_VERSION] = 2;
        assert_eq!(Header::decode(&newer), Err(HeaderError::UnknownVersion(2)));
        assert!(matches!(
            Header::decode(&page[..100]),
            Err(HeaderError::Truncated(100))
        ));
        assert_eq!(Header::decode(b"abc"), Err(HeaderError::BadMagic));
        assert_eq!(Header::decode(b""), Err(HeaderError::Empty));
    }

    #[test]
    fn schema_limits() {
        assert!(Schema::new().field("", DType::F64, 1).is_err());
        assert!(Schema::new().field(&"x".repeat(32), DType::F64, 1).is_err());
        let s = Schema::new().field("a", DType::F64, 1).unwrap();
        assert!(s.clone().field("a", DType::F64, 1).is_err());
        let mut s = Schema::new();
        for i in 0..MAX_FIELDS {
            s = s.field(&format!("f{i}"), DType::U8, 1).unwrap();
        }
        assert!(s.clone().field("one_more", DType::U8, 1).is_err());
        let h = Header::new(s, 0);
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn field_names_are_identifiers_on_both_sides() {
        for good in ["pos", "vel", "_", "x1", "Mass_2", &"a".repeat(31)] {
            assert!(check_field_name(good).is_ok(), "{good:?}");
            assert!(Schema::new().field(good, DType::F64, 1).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "/tmp/x",
            "../../pwned",
            "a/b",
            "a\nb",
            "a b",
            "1x",
            "é",
            "a.npy",
            "key",
            "time",
            "offset",
            "file",
            &"a".repeat(32),
        ] {
            assert!(check_field_name(bad).is_err(), "{bad:?}");
            assert!(Schema::new().field(bad, DType::F64, 1).is_err(), "{bad:?}");
            // A header holding the name (CRC recomputed) is refused too.
            let mut page =
                Header::new(Schema::new().field("ok", DType::F64, 1).unwrap(), 0).encode();
            let n = bad.len().min(32);
            page[OFF_FIELDS..OFF_FIELDS + 32].fill(0);
            page[OFF_FIELDS..OFF_FIELDS + n].copy_from_slice(&bad.as_bytes()[..n]);
            let crc = header_crc(&page);
            page[OFF_HEADER_CRC..OFF_HEADER_CRC + 4].copy_from_slice(&crc.to_le_bytes());
            match Header::decode(&page) {
                Err(HeaderError::Invalid(m)) => assert!(m.contains("schema field 0"), "{m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        // Twice the same name in a header.
        let s = Schema::new()
            .field("a", DType::F64, 1)
            .unwrap()
            .field("b", DType::F64, 1)
            .unwrap();
        let mut page = Header::new(s, 0).encode();
        page[OFF_FIELDS + FIELD_LEN] = b'a';
        let crc = header_crc(&page);
        page[OFF_HEADER_CRC..OFF_HEADER_CRC + 4].copy_from_slice(&crc.to_le_bytes());
        assert!(
            matches!(Header::decode(&page), Err(HeaderError::Invalid(m)) if m.contains("twice")),
        );
    }

    proptest! {
        #[test]
        fn word0_round_trip(len in 2u32..1 << 28, kind in 1u8..3, k: bool, p: bool, t: bool, flags: u8) {
            let kind = if kind == 1 { Kind::Data } else { Kind::Padding };
            let mut w = Word0 { len: 0, kind, has_key: k, has_prev: p, has_time: t, flags: Flags(flags) };
            w.len = (len * 8).max(w.header_len() as u32);
            let packed = w.pack();
            prop_assert_eq!(Word0::unpack(packed), Some(w));
            prop_assert!(packed != 0);
        }

        #[test]
        fn random_words_rarely_decode(w: u64) {
            // Without the tag nothing decodes.
            if w >> 48 != TAG {
                prop_assert_eq!(Word0::unpack(w), None);
            }
        }

        #[test]
        fn header_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..5000), flip in 0usize..4096) {
            let _ = Header::decode(&bytes);
            let mut page = Header::new(Schema::new(), 1).encode();
            page[flip] ^= 0x40;
            let _ = Header::decode(&page);
        }
    }
}
