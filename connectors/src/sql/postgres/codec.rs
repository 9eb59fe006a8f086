//! PostgreSQL values on the wire: coercing GraphQL values to the types a statement's
//! parameters are described with, encoding them in PostgreSQL's binary format, and decoding
//! binary result values into GraphQL values. Pure functions, tested without a database; the
//! mapping rules are listed in the [parent module](super).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArgumentBuffer, PgTypeInfo, PgTypeKind, PgValueFormat, PgValueRef, Postgres,
};
use sqlx::{Encode, Type, TypeInfo, ValueRef};

use crate::sql::support::{base64_decode, base64_encode, describe_value, float_value, to_json};
use crate::{ConnectorError, Value};

/// What a PostgreSQL type is, for coercing parameters and decoding results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PgKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    /// Text-like: its binary form is the UTF-8 text (text, varchar, bpchar, name, enums...).
    Text,
    Uuid,
    TimestampTz,
    Timestamp,
    Date,
    Time,
    Json,
    Jsonb,
    Bytea,
    /// An array, with its element kind and element type OID.
    Array(Box<PgKind>, u32),
    /// Anything else.
    Other,
}

pub(super) fn kind_of(ty: &PgTypeInfo) -> PgKind {
    match ty.name() {
        "BOOL" => PgKind::Bool,
        "INT2" => PgKind::Int2,
        "INT4" => PgKind::Int4,
        "INT8" => PgKind::Int8,
        "OID" => PgKind::Oid,
        "FLOAT4" => PgKind::Float4,
        "FLOAT8" => PgKind::Float8,
        "NUMERIC" => PgKind::Numeric,
        // sqlx calls `bpchar` (`CHAR(n)`) "CHAR" and the one-byte `"char"` "\"CHAR\"".
        "TEXT" | "VARCHAR" | "CHAR" | "NAME" | "\"CHAR\"" | "UNKNOWN" => PgKind::Text,
        "UUID" => PgKind::Uuid,
        "TIMESTAMPTZ" => PgKind::TimestampTz,
        "TIMESTAMP" => PgKind::Timestamp,
        "DATE" => PgKind::Date,
        "TIME" => PgKind::Time,
        "JSON" => PgKind::Json,
        "JSONB" => PgKind::Jsonb,
        "BYTEA" => PgKind::Bytea,
        name if name.eq_ignore_ascii_case("citext") || name.eq_ignore_ascii_case("xml") => {
            PgKind::Text
        }
        _ => match ty.kind() {
            PgTypeKind::Enum(_) => PgKind::Text,
            PgTypeKind::Domain(base) => kind_of(base),
            PgTypeKind::Array(elem) => match elem.oid() {
                Some(oid) => PgKind::Array(Box::new(kind_of(elem)), oid.0),
                None => PgKind::Other,
            },
            _ => PgKind::Other,
        },
    }
}

/// Whether values of this kind can be read (`Other`, also inside arrays, cannot).
pub(super) fn readable(kind: &PgKind) -> bool {
    match kind {
        PgKind::Other => false,
        PgKind::Array(elem, _) => readable(elem),
        _ => true,
    }
}

/// A coerced parameter: its data (or `NULL`) and the exact type the statement expects.
#[derive(Debug)]
pub(super) struct PgParam {
    pub(super) ty: PgTypeInfo,
    pub(super) data: Option<PgData>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum PgData {
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Oid(u32),
    Float4(f32),
    Float8(f64),
    /// PostgreSQL's binary `NUMERIC`, already encoded.
    Numeric(Vec<u8>),
    Text(String),
    Uuid(uuid::Uuid),
    TimestampTz(DateTime<Utc>),
    Timestamp(NaiveDateTime),
    Date(NaiveDate),
    Time(NaiveTime),
    Json(String),
    Jsonb(String),
    Bytea(Vec<u8>),
    Array {
        elem_oid: u32,
        items: Vec<Option<PgData>>,
    },
}

impl Type<Postgres> for PgParam {
    /// Never used for binding: [`Encode::produces`] gives each value's own type.
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for PgParam {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        match &self.data {
            None => Ok(IsNull::Yes),
            Some(data) => {
                encode_data(data, buf)?;
                Ok(IsNull::No)
            }
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.ty.clone())
    }
}

/// Encodes with sqlx's own encoder for a type whose values are never `NULL`.
fn put<'q, T: Encode<'q, Postgres>>(
    value: &T,
    buf: &mut PgArgumentBuffer,
) -> Result<(), BoxDynError> {
    match value.encode_by_ref(buf)? {
        IsNull::No => Ok(()),
        IsNull::Yes => Err("unexpected NULL from an encoder".into()),
    }
}

/// Writes `data` in PostgreSQL's binary format (without the length prefix).
fn encode_data(data: &PgData, buf: &mut PgArgumentBuffer) -> Result<(), BoxDynError> {
    match data {
        PgData::Bool(v) => {
            put::<bool>(v, buf)?;
        }
        PgData::Int2(v) => buf.extend_from_slice(&v.to_be_bytes()),
        PgData::Int4(v) => buf.extend_from_slice(&v.to_be_bytes()),
        PgData::Int8(v) => buf.extend_from_slice(&v.to_be_bytes()),
        PgData::Oid(v) => buf.extend_from_slice(&v.to_be_bytes()),
        PgData::Float4(v) => buf.extend_from_slice(&v.to_be_bytes()),
        PgData::Float8(v) => buf.extend_from_slice(&v.to_be_bytes()),
        PgData::Numeric(v) => buf.extend_from_slice(v),
        PgData::Text(v) | PgData::Json(v) => buf.extend_from_slice(v.as_bytes()),
        PgData::Jsonb(v) => {
            buf.push(1); // jsonb binary format version
            buf.extend_from_slice(v.as_bytes());
        }
        PgData::Uuid(v) => buf.extend_from_slice(v.as_bytes()),
        PgData::TimestampTz(v) => {
            put::<DateTime<Utc>>(v, buf)?;
        }
        PgData::Timestamp(v) => {
            put::<NaiveDateTime>(v, buf)?;
        }
        PgData::Date(v) => {
            put::<NaiveDate>(v, buf)?;
        }
        PgData::Time(v) => {
            put::<NaiveTime>(v, buf)?;
        }
        PgData::Bytea(v) => buf.extend_from_slice(v),
        PgData::Array { elem_oid, items } => {
            let len = i32::try_from(items.len()).map_err(|_| "array too long")?;
            let has_null = items.iter().any(Option::is_none);
            buf.extend_from_slice(&1_i32.to_be_bytes()); // dimensions
            buf.extend_from_slice(&i32::from(has_null).to_be_bytes());
            buf.extend_from_slice(&elem_oid.to_be_bytes());
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&1_i32.to_be_bytes()); // lower bound
            for item in items {
                match item {
                    None => buf.extend_from_slice(&(-1_i32).to_be_bytes()),
                    Some(item) => {
                        let at = buf.len();
                        buf.extend_from_slice(&0_i32.to_be_bytes());
                        encode_data(item, buf)?;
                        let size = i32::try_from(buf.len() - at - 4)
                            .map_err(|_| "array element too large")?;
                        buf[at..at + 4].copy_from_slice(&size.to_be_bytes());
                    }
                }
            }
        }
    }
    Ok(())
}

fn bad_input(what: &str, label: &str, value: &Value) -> ConnectorError {
    ConnectorError::BadInput {
        message: format!("expected {what} for {label}, got {}", describe_value(value)),
    }
}

/// Coerces one value to `kind`; `label` names it in messages (`$1`, `a key`).
pub(super) fn coerce(
    value: &Value,
    kind: &PgKind,
    label: &str,
) -> Result<Option<PgData>, ConnectorError> {
    if matches!(value, Value::Null) {
        return Ok(None);
    }
    let data = match kind {
        PgKind::Bool => PgData::Bool(to_bool(value, label)?),
        PgKind::Int2 => {
            let i = to_i64(value, label, "an integer")?;
            PgData::Int2(i16::try_from(i).map_err(|_| bad_input("a 16-bit integer", label, value))?)
        }
        PgKind::Int4 => {
            let i = to_i64(value, label, "an integer")?;
            PgData::Int4(i32::try_from(i).map_err(|_| bad_input("a 32-bit integer", label, value))?)
        }
        PgKind::Int8 => PgData::Int8(to_i64(value, label, "an integer")?),
        PgKind::Oid => {
            let i = to_i64(value, label, "an OID")?;
            PgData::Oid(u32::try_from(i).map_err(|_| bad_input("an OID", label, value))?)
        }
        PgKind::Float4 => {
            let f = to_f64(value, label)?;
            if f.is_finite() && f.abs() > f64::from(f32::MAX) {
                return Err(bad_input("a 32-bit float", label, value));
            }
            PgData::Float4(f as f32)
        }
        PgKind::Float8 => PgData::Float8(to_f64(value, label)?),
        PgKind::Numeric => PgData::Numeric(to_numeric(value, label)?),
        PgKind::Text | PgKind::Other => PgData::Text(to_text(value)),
        PgKind::Uuid => match value {
            Value::String(s) => PgData::Uuid(
                uuid::Uuid::parse_str(s).map_err(|_| bad_input("a UUID", label, value))?,
            ),
            _ => return Err(bad_input("a UUID", label, value)),
        },
        PgKind::TimestampTz => PgData::TimestampTz(
            as_str(value)
                .and_then(parse_datetime)
                .ok_or_else(|| bad_input("an RFC 3339 date-time", label, value))?,
        ),
        PgKind::Timestamp => PgData::Timestamp(
            as_str(value)
                .and_then(parse_datetime)
                .map(|dt| dt.naive_utc())
                .ok_or_else(|| bad_input("a date-time", label, value))?,
        ),
        PgKind::Date => PgData::Date(
            as_str(value)
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .ok_or_else(|| bad_input("a date (YYYY-MM-DD)", label, value))?,
        ),
        PgKind::Time => PgData::Time(
            as_str(value)
                .and_then(|s| {
                    NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
                        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
                        .ok()
                })
                .ok_or_else(|| bad_input("a time (HH:MM:SS)", label, value))?,
        ),
        PgKind::Json => PgData::Json(to_json(value).to_string()),
        PgKind::Jsonb => PgData::Jsonb(to_json(value).to_string()),
        PgKind::Bytea => match value {
            Value::Binary(bytes) => PgData::Bytea(bytes.to_vec()),
            Value::String(s) => PgData::Bytea(
                base64_decode(s).ok_or_else(|| bad_input("base64 data", label, value))?,
            ),
            _ => return Err(bad_input("base64 data", label, value)),
        },
        PgKind::Array(elem, elem_oid) => match value {
            Value::List(items) => coerce_array(items.iter(), elem, *elem_oid, label)?,
            _ => return Err(bad_input("a list", label, value)),
        },
    };
    Ok(Some(data))
}

pub(super) fn coerce_array<'v>(
    items: impl Iterator<Item = &'v Value>,
    elem: &PgKind,
    elem_oid: u32,
    label: &str,
) -> Result<PgData, ConnectorError> {
    let items = items
        .map(|item| coerce(item, elem, label))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PgData::Array { elem_oid, items })
}

fn as_str(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn to_i64(value: &Value, label: &str, what: &str) -> Result<i64, ConnectorError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            // 42.0 is an integer; 42.5 and values beyond i64 are not.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| bad_input(what, label, value))
}

fn to_f64(value: &Value, label: &str) -> Result<f64, ConnectorError> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| bad_input("a number", label, value))
}

fn to_numeric(value: &Value, label: &str) -> Result<Vec<u8>, ConnectorError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(bad_input("a decimal number", label, value)),
    };
    numeric_from_str(&text).ok_or_else(|| bad_input("a decimal number", label, value))
}

/// Decimal text (`-12.50`, `1.5e-3`, `NaN`, `Infinity`) → PostgreSQL's binary `NUMERIC`:
/// base-10000 digits, the weight of the first one, sign, and the display scale (the number
/// of fraction digits written, as `numeric_in` keeps it: `"1.10"` stays `1.10`).
fn numeric_from_str(text: &str) -> Option<Vec<u8>> {
    let header = |ndigits: i16, weight: i16, sign: u16, dscale: u16| {
        let mut out = Vec::with_capacity(8 + 2 * usize::try_from(ndigits).unwrap_or(0));
        out.extend_from_slice(&ndigits.to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        out
    };
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.eq_ignore_ascii_case("nan") && body.len() == text.len() {
        return Some(header(0, 0, 0xC000, 0));
    }
    if body.eq_ignore_ascii_case("infinity") {
        return Some(header(0, 0, if negative { 0xF000 } else { 0xD000 }, 0));
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], body[at + 1..].parse::<i64>().ok()?),
        None => (body, 0),
    };
    if exponent.abs() > 100_000 {
        return None;
    }
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac_len = i64::try_from(frac_part.len()).ok()?;
    let dscale = u16::try_from((frac_len - exponent).max(0)).ok()?;
    if dscale > 16_383 {
        return None;
    }
    // value = significant digits × 10^exp10, without leading or trailing zeros.
    let all = format!("{int_part}{frac_part}");
    let trimmed = all.trim_start_matches('0');
    let significant = trimmed.trim_end_matches('0');
    if significant.is_empty() {
        return Some(header(0, 0, 0, dscale));
    }
    let trailing = i64::try_from(trimmed.len() - significant.len()).ok()?;
    let mut exp10 = exponent - frac_len + trailing;
    // Align the last digit on a base-10000 boundary, then pad the front to whole groups.
    let mut digits = significant.to_owned();
    let align = exp10.rem_euclid(4);
    for _ in 0..align {
        digits.push('0');
    }
    exp10 -= align;
    let pad = (4 - digits.len() % 4) % 4;
    digits.insert_str(0, &"0".repeat(pad));
    let groups: Vec<i16> = digits
        .as_bytes()
        .chunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0'))
        })
        .collect();
    let ngroups = i64::try_from(groups.len()).ok()?;
    let weight = i16::try_from(exp10 / 4 + ngroups - 1).ok()?;
    let mut out = header(
        i16::try_from(groups.len()).ok()?,
        weight,
        if negative { 0x4000 } else { 0 },
        dscale,
    );
    for group in groups {
        out.extend_from_slice(&group.to_be_bytes());
    }
    Some(out)
}

fn to_bool(value: &Value, label: &str) -> Result<bool, ConnectorError> {
    match value {
        Value::Boolean(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::String(s) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(false),
        _ => Err(bad_input("a boolean", label, value)),
    }
}

fn to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Enum(name) => name.to_string(),
        Value::Binary(bytes) => base64_encode(bytes),
        Value::Null | Value::List(_) | Value::Object(_) => to_json(value).to_string(),
    }
}

/// RFC 3339, or `YYYY-MM-DD[ T]HH:MM[:SS[.f]]` with an optional offset (none means UTC), or a
/// bare date (midnight UTC).
fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(dt.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
}

pub(super) fn decode_cell(raw: PgValueRef<'_>, kind: &PgKind) -> Result<Value, String> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    match raw.format() {
        PgValueFormat::Binary => {
            let bytes = raw.as_bytes().map_err(|e| e.to_string())?;
            decode_binary(kind, bytes)
        }
        // Only the simple-query protocol returns text, and statements here are prepared.
        PgValueFormat::Text => Ok(Value::String(
            raw.as_str().map_err(|e| e.to_string())?.to_owned(),
        )),
    }
}

/// Reads big-endian numbers off a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated binary value".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// The whole value must have been consumed.
    fn done<T>(self, value: T) -> Result<T, String> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err("unexpected trailing bytes in binary value".into())
        }
    }
}

fn pg_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// Decodes one value in PostgreSQL's binary format.
fn decode_binary(kind: &PgKind, bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader(bytes);
    let value = match kind {
        PgKind::Bool => Value::Boolean(r.array::<1>()?[0] != 0),
        PgKind::Int2 => Value::Number(r.i16()?.into()),
        PgKind::Int4 => Value::Number(r.i32()?.into()),
        PgKind::Int8 => Value::Number(r.i64()?.into()),
        PgKind::Oid => Value::Number(r.u32()?.into()),
        PgKind::Float4 => {
            let f = f32::from_be_bytes(r.array()?);
            // Through the shortest decimal text, so 19.99f32 reads as 19.99, not 19.9899997.
            let wide = if f.is_finite() {
                f.to_string().parse::<f64>().unwrap_or(f64::from(f))
            } else {
                f64::NAN
            };
            float_value(wide)
        }
        PgKind::Float8 => float_value(f64::from_be_bytes(r.array()?)),
        PgKind::Numeric => return numeric_to_string(bytes).map(Value::String),
        PgKind::Text => Value::String(text(r.take(bytes.len())?)?.to_owned()),
        PgKind::Uuid => Value::String(uuid::Uuid::from_bytes(r.array()?).hyphenated().to_string()),
        PgKind::TimestampTz | PgKind::Timestamp => {
            let micros = r.i64()?;
            let text = match micros {
                i64::MAX => "infinity".to_owned(),
                i64::MIN => "-infinity".to_owned(),
                _ => {
                    let dt = pg_epoch()
                        .checked_add_signed(chrono::Duration::microseconds(micros))
                        .ok_or("timestamp out of range")?;
                    if *kind == PgKind::TimestampTz {
                        dt.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
                    } else {
                        dt.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
                    }
                }
            };
            Value::String(text)
        }
        PgKind::Date => {
            let days = r.i32()?;
            let text = match days {
                i32::MAX => "infinity".to_owned(),
                i32::MIN => "-infinity".to_owned(),
                _ => pg_epoch()
                    .date()
                    .checked_add_signed(chrono::Duration::days(i64::from(days)))
                    .ok_or("date out of range")?
                    .format("%Y-%m-%d")
                    .to_string(),
            };
            Value::String(text)
        }
        PgKind::Time => {
            let micros = r.i64()?;
            let secs =
                u32::try_from(micros.div_euclid(1_000_000)).map_err(|_| "time out of range")?;
            let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000)
                .map_err(|_| "time out of range")?;
            let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
                .ok_or("time out of range")?;
            Value::String(time.format("%H:%M:%S%.f").to_string())
        }
        PgKind::Json => json_value(r.take(bytes.len())?)?,
        PgKind::Jsonb => {
            let version = r.array::<1>()?[0];
            if version != 1 {
                return Err(format!("unsupported jsonb version {version}"));
            }
            json_value(r.take(bytes.len() - 1)?)?
        }
        PgKind::Bytea => Value::String(base64_encode(r.take(bytes.len())?)),
        PgKind::Array(elem, _) => return decode_array(elem, bytes),
        PgKind::Other => return Ok(Value::Null),
    };
    r.done(value)
}

fn text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| e.to_string())
}

fn json_value(bytes: &[u8]) -> Result<Value, String> {
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Value::from_json(json).map_err(|e| e.to_string())
}

/// A (possibly multi-dimensional) array: nested lists.
fn decode_array(elem: &PgKind, bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader(bytes);
    let ndim = usize::try_from(r.i32()?).map_err(|_| "negative array dimensions")?;
    let _flags = r.i32()?;
    let _elem_oid = r.u32()?;
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let len = usize::try_from(r.i32()?).map_err(|_| "negative array length")?;
        let _lower_bound = r.i32()?;
        dims.push(len);
    }
    if dims.is_empty() {
        return r.done(Value::List(Vec::new()));
    }
    let value = build_array(elem, &dims, &mut r)?;
    r.done(value)
}

fn build_array(elem: &PgKind, dims: &[usize], r: &mut Reader<'_>) -> Result<Value, String> {
    let (len, inner) = dims.split_first().ok_or("array without dimensions")?;
    let mut items = Vec::with_capacity((*len).min(4096));
    for _ in 0..*len {
        if inner.is_empty() {
            let size = r.i32()?;
            if size < 0 {
                items.push(Value::Null);
            } else {
                let bytes = r.take(usize::try_from(size).map_err(|_| "bad element size")?)?;
                items.push(decode_binary(elem, bytes)?);
            }
        } else {
            items.push(build_array(elem, inner, r)?);
        }
    }
    Ok(Value::List(items))
}

/// PostgreSQL's binary `NUMERIC` (base-10000 digits, weight, sign, display scale) as its exact
/// decimal text, with exactly `dscale` fraction digits, like `numeric_out`.
fn numeric_to_string(bytes: &[u8]) -> Result<String, String> {
    let mut r = Reader(bytes);
    let ndigits = usize::try_from(r.i16()?).map_err(|_| "negative numeric digit count")?;
    let weight = i64::from(r.i16()?);
    let sign = r.u16()?;
    let dscale = usize::from(r.u16()?);
    let mut digits = Vec::with_capacity(ndigits);
    for _ in 0..ndigits {
        let d = r.i16()?;
        if !(0..10_000).contains(&d) {
            return Err("numeric digit out of range".into());
        }
        digits.push(d);
    }
    r.done(())?;
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        other => return Err(format!("bad numeric sign {other:#x}")),
    };
    // Digit k is worth 10000^(weight - k).
    let digit = |k: i64| -> i16 {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                out.push_str(&digit(k).to_string());
            } else {
                out.push_str(&format!("{:04}", digit(k)));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::with_capacity(dscale + 4);
        let mut k = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(k)));
            k += 1;
        }
        fraction.truncate(dscale);
        out.push_str(&fraction);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::Name;
    use std::str::FromStr;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    fn n(v: i64) -> Value {
        Value::Number(v.into())
    }

    fn json(v: serde_json::Value) -> Value {
        Value::from_json(v).unwrap()
    }

    fn numeric_bytes(ndigits: &[i16], weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(ndigits.len() as i16).to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&sign.to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in ndigits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_binary_to_exact_text() {
        let cases: [(&[i16], i16, u16, u16, &str); 10] = [
            (&[19, 9900], 0, 0, 2, "19.99"),
            (&[], 0, 0, 0, "0"),
            (&[], 0, 0, 2, "0.00"),
            (&[1], -1, 0, 4, "0.0001"),
            (&[1000], -2, 0, 5, "0.00001"),
            (&[1234, 5678, 9000], 1, 0, 1, "12345678.9"),
            (&[1], 1, 0, 0, "10000"),
            (&[5000], -1, 0x4000, 1, "-0.5"),
            (
                &[12, 3456, 7890, 1234, 5678, 9012, 3456, 7890, 1234, 5678],
                7,
                0,
                8,
                "123456789012345678901234567890.12345678",
            ),
            (&[42], 0, 0, 3, "42.000"),
        ];
        for (digits, weight, sign, dscale, expected) in cases {
            assert_eq!(
                numeric_to_string(&numeric_bytes(digits, weight, sign, dscale)).unwrap(),
                expected
            );
        }
        assert_eq!(
            numeric_to_string(&numeric_bytes(&[], 0, 0xC000, 0)).unwrap(),
            "NaN"
        );
        assert_eq!(
            numeric_to_string(&numeric_bytes(&[], 0, 0xD000, 0)).unwrap(),
            "Infinity"
        );
        assert!(numeric_to_string(&numeric_bytes(&[10000], 0, 0, 0)).is_err());
        assert!(numeric_to_string(&[0, 1]).is_err());
    }

    #[test]
    fn numeric_text_round_trips() {
        for text in [
            "19.99",
            "0",
            "0.00",
            "-0.001",
            "123456789.123456789",
            "79228162514264337593543950335",
            "123456789012345678901234567890.123456789",
            "1.10",
            "10000",
            "100000000",
            "0.0001",
            "0.00001",
            "-12345.6789",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            let bytes = numeric_from_str(text).unwrap();
            assert_eq!(numeric_to_string(&bytes).unwrap(), text, "{text}");
        }
        let normalized = [
            ("1e3", "1000"),
            ("1.5e-3", "0.0015"),
            ("-2.50E+2", "-250"),
            ("+7", "7"),
            ("007.50", "7.50"),
            (".5", "0.5"),
            ("5.", "5"),
            ("nan", "NaN"),
        ];
        for (text, expected) in normalized {
            let bytes = numeric_from_str(text).unwrap();
            assert_eq!(numeric_to_string(&bytes).unwrap(), expected, "{text}");
        }
        for bad in [
            "", "-", ".", "abc", "1.2.3", "1e", "1e999999", "--1", "1 ", "0x10", "-nan",
        ] {
            assert!(numeric_from_str(bad).is_none(), "{bad}");
        }
        // sqlx's own encoder (via rust_decimal) agrees where rust_decimal can hold the value.
        for text in ["19.99", "-0.001", "123456789.123456789"] {
            let mut buf = PgArgumentBuffer::default();
            put(&rust_decimal::Decimal::from_str(text).unwrap(), &mut buf).unwrap();
            assert_eq!(numeric_to_string(&buf).unwrap(), text);
        }
    }

    fn round_trip(data: PgData, kind: PgKind) -> Value {
        let mut buf = PgArgumentBuffer::default();
        encode_data(&data, &mut buf).unwrap();
        decode_binary(&kind, &buf).unwrap()
    }

    #[test]
    fn binary_round_trips() {
        assert_eq!(
            round_trip(PgData::Bool(true), PgKind::Bool),
            Value::Boolean(true)
        );
        assert_eq!(round_trip(PgData::Int2(-7), PgKind::Int2), n(-7));
        assert_eq!(round_trip(PgData::Int4(42), PgKind::Int4), n(42));
        assert_eq!(
            round_trip(PgData::Int8(i64::MAX), PgKind::Int8),
            n(i64::MAX)
        );
        assert_eq!(
            round_trip(PgData::Float4(19.99), PgKind::Float4),
            Value::from(19.99)
        );
        assert_eq!(
            round_trip(PgData::Float8(0.1), PgKind::Float8),
            Value::from(0.1)
        );
        assert_eq!(
            round_trip(PgData::Float8(f64::NAN), PgKind::Float8),
            Value::Null
        );
        assert_eq!(
            round_trip(PgData::Text("héllo".into()), PgKind::Text),
            s("héllo")
        );
        let uuid = uuid::Uuid::parse_str("67E55044-10B1-426F-9247-BB680E5FE0C8").unwrap();
        assert_eq!(
            round_trip(PgData::Uuid(uuid), PgKind::Uuid),
            s("67e55044-10b1-426f-9247-bb680e5fe0c8")
        );
        let at = parse_datetime("2024-01-02T03:04:05.123456+02:00").unwrap();
        assert_eq!(
            round_trip(PgData::TimestampTz(at), PgKind::TimestampTz),
            s("2024-01-02T01:04:05.123456Z")
        );
        let at = parse_datetime("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(
            round_trip(PgData::TimestampTz(at), PgKind::TimestampTz),
            s("2024-01-02T03:04:05Z")
        );
        let at = parse_datetime("1969-12-31 23:59:59.5").unwrap();
        assert_eq!(
            round_trip(PgData::Timestamp(at.naive_utc()), PgKind::Timestamp),
            s("1969-12-31T23:59:59.500")
        );
        let d = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
        assert_eq!(round_trip(PgData::Date(d), PgKind::Date), s("1999-12-31"));
        let t = NaiveTime::from_hms_micro_opt(13, 14, 15, 250_000).unwrap();
        assert_eq!(round_trip(PgData::Time(t), PgKind::Time), s("13:14:15.250"));
        assert_eq!(
            round_trip(
                PgData::Jsonb(r#"{"a":[1,true,null]}"#.into()),
                PgKind::Jsonb
            ),
            json(serde_json::json!({"a": [1, true, null]}))
        );
        assert_eq!(
            round_trip(PgData::Json("[1.5]".into()), PgKind::Json),
            json(serde_json::json!([1.5]))
        );
        assert_eq!(
            round_trip(PgData::Bytea(vec![0, 255]), PgKind::Bytea),
            s("AP8=")
        );
        assert_eq!(
            round_trip(
                PgData::Array {
                    elem_oid: 23,
                    items: vec![Some(PgData::Int4(1)), None, Some(PgData::Int4(3))]
                },
                PgKind::Array(Box::new(PgKind::Int4), 23)
            ),
            Value::List(vec![n(1), Value::Null, n(3)])
        );
        assert_eq!(
            round_trip(
                PgData::Array {
                    elem_oid: 25,
                    items: vec![]
                },
                PgKind::Array(Box::new(PgKind::Text), 25)
            ),
            Value::List(vec![])
        );
    }

    #[test]
    fn infinities_and_truncated_values() {
        let inf = i64::MAX.to_be_bytes();
        assert_eq!(
            decode_binary(&PgKind::TimestampTz, &inf).unwrap(),
            s("infinity")
        );
        let ninf = i32::MIN.to_be_bytes();
        assert_eq!(decode_binary(&PgKind::Date, &ninf).unwrap(), s("-infinity"));
        assert!(decode_binary(&PgKind::Int8, &[0, 1]).is_err());
        assert!(decode_binary(&PgKind::Int4, &[0, 0, 0, 0, 0]).is_err());
        assert_eq!(decode_binary(&PgKind::Other, &[1, 2]).unwrap(), Value::Null);
    }

    #[test]
    fn multi_dimensional_array() {
        // int4[2][2] = {{1,2},{3,4}}
        let mut b = Vec::new();
        for v in [2_i32, 0, 23, 2, 1, 2, 1] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        for v in [1_i32, 2, 3, 4] {
            b.extend_from_slice(&4_i32.to_be_bytes());
            b.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(
            decode_binary(&PgKind::Array(Box::new(PgKind::Int4), 23), &b).unwrap(),
            Value::List(vec![
                Value::List(vec![n(1), n(2)]),
                Value::List(vec![n(3), n(4)])
            ])
        );
    }

    fn bad_message(result: Result<Option<PgData>, ConnectorError>) -> String {
        match result {
            Err(ConnectorError::BadInput { message }) => message,
            other => panic!("expected BadInput, got {other:?}"),
        }
    }

    #[test]
    fn coercions() {
        assert_eq!(
            coerce(&s("42"), &PgKind::Int8, "$1").unwrap(),
            Some(PgData::Int8(42))
        );
        assert_eq!(
            coerce(&n(42), &PgKind::Int4, "$1").unwrap(),
            Some(PgData::Int4(42))
        );
        assert_eq!(
            coerce(&Value::from(42.0), &PgKind::Int2, "$1").unwrap(),
            Some(PgData::Int2(42))
        );
        assert_eq!(coerce(&Value::Null, &PgKind::Int8, "$1").unwrap(), None);
        assert_eq!(
            bad_message(coerce(&s("abc"), &PgKind::Int8, "$1")),
            r#"expected an integer for $1, got "abc""#
        );
        assert_eq!(
            bad_message(coerce(&n(3_000_000_000), &PgKind::Int4, "$2")),
            "expected a 32-bit integer for $2, got 3000000000"
        );
        assert!(coerce(&Value::from(1.5), &PgKind::Int8, "$1").is_err());
        assert!(coerce(&Value::Boolean(true), &PgKind::Int8, "$1").is_err());
        assert_eq!(
            coerce(&s("2.5"), &PgKind::Float8, "$1").unwrap(),
            Some(PgData::Float8(2.5))
        );
        assert!(coerce(&Value::from(1e300), &PgKind::Float4, "$1").is_err());
        assert_eq!(
            coerce(&s("19.99"), &PgKind::Numeric, "$1").unwrap(),
            Some(PgData::Numeric(numeric_from_str("19.99").unwrap()))
        );
        assert_eq!(
            coerce(&Value::from(19.99), &PgKind::Numeric, "$1").unwrap(),
            Some(PgData::Numeric(numeric_from_str("19.99").unwrap()))
        );
        assert_eq!(
            coerce(&s("1e3"), &PgKind::Numeric, "$1").unwrap(),
            Some(PgData::Numeric(numeric_from_str("1000").unwrap()))
        );
        assert_eq!(
            bad_message(coerce(&s("ten"), &PgKind::Numeric, "$1")),
            r#"expected a decimal number for $1, got "ten""#
        );
        assert_eq!(
            coerce(&s("TRUE"), &PgKind::Bool, "$1").unwrap(),
            Some(PgData::Bool(true))
        );
        assert_eq!(
            coerce(&n(0), &PgKind::Bool, "$1").unwrap(),
            Some(PgData::Bool(false))
        );
        assert!(coerce(&s("maybe"), &PgKind::Bool, "$1").is_err());
        assert_eq!(
            coerce(&n(7), &PgKind::Text, "$1").unwrap(),
            Some(PgData::Text("7".into()))
        );
        assert_eq!(
            coerce(&Value::Enum(Name::new("RED")), &PgKind::Text, "$1").unwrap(),
            Some(PgData::Text("RED".into()))
        );
        assert_eq!(
            bad_message(coerce(&s("nope"), &PgKind::Uuid, "a key")),
            r#"expected a UUID for a key, got "nope""#
        );
        assert!(coerce(&s("2024-13-01"), &PgKind::Date, "$1").is_err());
        assert!(coerce(&s("yesterday"), &PgKind::TimestampTz, "$1").is_err());
        assert_eq!(
            coerce(&s("2024-01-02T03:04:05+02:00"), &PgKind::Timestamp, "$1").unwrap(),
            Some(PgData::Timestamp(
                NaiveDate::from_ymd_opt(2024, 1, 2)
                    .unwrap()
                    .and_hms_opt(1, 4, 5)
                    .unwrap()
            ))
        );
        assert_eq!(
            coerce(&json(serde_json::json!({"a": 1})), &PgKind::Jsonb, "$1").unwrap(),
            Some(PgData::Jsonb(r#"{"a":1}"#.into()))
        );
        assert_eq!(
            coerce(&s("text"), &PgKind::Json, "$1").unwrap(),
            Some(PgData::Json(r#""text""#.into()))
        );
        assert_eq!(
            coerce(&s("AP8="), &PgKind::Bytea, "$1").unwrap(),
            Some(PgData::Bytea(vec![0, 255]))
        );
        assert_eq!(
            coerce(
                &Value::List(vec![s("1"), Value::Null]),
                &PgKind::Array(Box::new(PgKind::Int8), 20),
                "$1"
            )
            .unwrap(),
            Some(PgData::Array {
                elem_oid: 20,
                items: vec![Some(PgData::Int8(1)), None]
            })
        );
        assert!(coerce(&n(1), &PgKind::Array(Box::new(PgKind::Int8), 20), "$1").is_err());
    }

    #[test]
    fn datetime_parsing() {
        let utc =
            |s: &str| parse_datetime(s).map(|d| d.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        assert_eq!(
            utc("2024-01-02T03:04:05Z").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            utc("2024-01-02T03:04:05.5-01:00").as_deref(),
            Some("2024-01-02T04:04:05.500Z")
        );
        assert_eq!(
            utc("2024-01-02 03:04:05+0100").as_deref(),
            Some("2024-01-02T02:04:05Z")
        );
        assert_eq!(
            utc("2024-01-02 03:04:05").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            utc("2024-01-02T03:04").as_deref(),
            Some("2024-01-02T03:04:00Z")
        );
        assert_eq!(utc("2024-01-02").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(utc("02/01/2024"), None);
    }
}
