//! Parquet input: fixtures written here with the `parquet` crate's writer, scanned like any
//! other file: detection by magic, canonical conversion, errors located by row and field.

use std::sync::Arc;

use datasets::{
    detect, read_range, scan, Container, ErrorCode, FileErrorCode, FormatSpec, Message, Record, Role, ScanOptions, ScanReport, Schema,
};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// One leaf column's data: values plus definition and repetition levels.
enum Col {
    Bytes(Vec<&'static str>, Option<Vec<i16>>, Option<Vec<i16>>),
    Long(Vec<i64>, Option<Vec<i16>>),
}

fn write(schema: &str, compression: Compression, columns: Vec<Col>) -> Vec<u8> {
    let schema = Arc::new(parse_message_type(schema).unwrap());
    let props = Arc::new(WriterProperties::builder().set_compression(compression).build());
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut columns = columns.into_iter();
    while let Some(mut column) = group.next_column().unwrap() {
        match (column.untyped(), columns.next().unwrap()) {
            (ColumnWriter::ByteArrayColumnWriter(w), Col::Bytes(values, def, rep)) => {
                let values: Vec<ByteArray> = values.into_iter().map(ByteArray::from).collect();
                w.write_batch(&values, def.as_deref(), rep.as_deref()).unwrap();
            }
            (ColumnWriter::Int64ColumnWriter(w), Col::Long(values, def)) => {
                w.write_batch(&values, def.as_deref(), None).unwrap();
            }
            _ => panic!("column type does not match the fixture"),
        }
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
    out
}

const CHAT_SCHEMA: &str = "message m {
  required group messages (LIST) {
    repeated group list {
      required group element {
        required binary role (STRING);
        required binary content (STRING);
      }
    }
  }
}";

/// Two conversations: (user, assistant) and (system, user, assistant).
fn chat_file(compression: Compression) -> Vec<u8> {
    let def = Some(vec![1; 5]);
    let rep = Some(vec![0, 1, 0, 1, 1]);
    write(
        CHAT_SCHEMA,
        compression,
        vec![
            Col::Bytes(vec!["user", "assistant", "system", "user", "assistant"], def.clone(), rep.clone()),
            Col::Bytes(vec!["Hi", "Hello!", "Be brief.", "2+2?", "4"], def, rep),
        ],
    )
}

fn scan_bytes(bytes: &[u8], filename: &str) -> (ScanReport, Vec<Record>) {
    let options = ScanOptions { filename: Some(filename.to_owned()), ..ScanOptions::default() };
    let mut records = Vec::new();
    let report = scan(bytes, &options, |_, _, r| records.push(r.clone())).unwrap();
    (report, records)
}

#[test]
fn chat_messages_column_becomes_canonical_chat() {
    for compression in [
        Compression::SNAPPY,
        Compression::ZSTD(ZstdLevel::default()),
        Compression::GZIP(GzipLevel::default()),
        Compression::LZ4_RAW,
        Compression::UNCOMPRESSED,
    ] {
        let bytes = chat_file(compression);
        // Detected by magic whatever the name.
        let (report, records) = scan_bytes(&bytes, "upload.bin");
        assert_eq!(report.format, Some(FormatSpec::new(Container::Parquet, Schema::Chat)), "{compression:?}");
        assert_eq!(report.summary.file_error, None, "{compression:?}");
        assert_eq!((report.summary.records, report.summary.valid_records), (2, 2), "{compression:?}: {:?}", report.errors);
        assert_eq!(
            records,
            vec![
                Record::Chat { messages: vec![Message::new(Role::User, "Hi"), Message::new(Role::Assistant, "Hello!")] },
                Record::Chat {
                    messages: vec![
                        Message::new(Role::System, "Be brief."),
                        Message::new(Role::User, "2+2?"),
                        Message::new(Role::Assistant, "4")
                    ]
                },
            ]
        );
    }
}

#[test]
fn detect_recognises_the_magic_and_the_extension() {
    let bytes = chat_file(Compression::SNAPPY);
    assert_eq!(detect(&bytes[..4096.min(bytes.len())], None).unwrap().container, Container::Parquet);
    assert_eq!(detect(b"whatever", Some("train.PARQUET")).unwrap(), FormatSpec::new(Container::Parquet, Schema::Auto));
}

#[test]
fn prompt_completion_columns_and_preview() {
    let bytes = write(
        "message m { required binary prompt (STRING); required binary completion (STRING); }",
        Compression::SNAPPY,
        vec![Col::Bytes(vec!["Capital of France?", "2+2?"], None, None), Col::Bytes(vec!["Paris", "4"], None, None)],
    );
    let (report, records) = scan_bytes(&bytes, "pc.parquet");
    assert_eq!(report.format, Some(FormatSpec::new(Container::Parquet, Schema::PromptCompletion)));
    assert_eq!(report.summary.valid_records, 2, "{:?}", report.errors);
    assert_eq!(records[1], Record::Chat { messages: vec![Message::new(Role::User, "2+2?"), Message::new(Role::Assistant, "4")] });
    assert_eq!(report.stats.fields.get("prompt").map(|f| f.present), Some(2), "{:?}", report.stats.fields);

    let spec = FormatSpec::new(Container::Parquet, Schema::PromptCompletion);
    let preview = read_range(&bytes[..], &spec, 1, 5, None).unwrap();
    assert_eq!(preview.len(), 1);
    assert_eq!((preview[0].index, preview[0].line), (1, 2));
    assert_eq!(preview[0].raw, r#"{"completion":"4","prompt":"2+2?"}"#);
}

#[test]
fn null_and_wrong_type_are_located_by_row_and_field() {
    // Row 2: completion is NULL; row 3: prompt is a number.
    let bytes = write(
        "message m { optional binary prompt (STRING); optional binary completion (STRING); optional int64 score; }",
        Compression::SNAPPY,
        vec![
            Col::Bytes(vec!["a", "b"], Some(vec![1, 1, 0]), None),
            Col::Bytes(vec!["x", "y"], Some(vec![1, 0, 1]), None),
            Col::Long(vec![1, 2, 3], Some(vec![1, 1, 1])),
        ],
    );
    let (report, _) = scan_bytes(&bytes, "errors.parquet");
    assert_eq!(report.format, Some(FormatSpec::new(Container::Parquet, Schema::PromptCompletion)));
    assert_eq!((report.summary.valid_records, report.summary.invalid_records), (1, 2), "{:?}", report.errors);
    let located: Vec<(usize, u64, Option<u64>, Option<&str>)> =
        report.errors.iter().map(|e| (e.index, e.line, e.row, e.field.as_deref())).collect();
    assert_eq!(located, vec![(1, 2, Some(2), Some("completion")), (2, 3, Some(3), Some("prompt"))], "{:?}", report.errors);

    let wrong = write(
        "message m { required int64 prompt; required binary completion (STRING); }",
        Compression::SNAPPY,
        vec![Col::Long(vec![7], None), Col::Bytes(vec!["x"], None, None)],
    );
    let (report, _) = scan_bytes(&wrong, "wrong.parquet");
    let e = &report.errors[0];
    assert_eq!((e.row, e.field.as_deref(), e.code), (Some(1), Some("prompt"), ErrorCode::WrongType), "{e:?}");
}

#[test]
fn corrupt_and_unsupported_files_get_clear_errors() {
    let bytes = chat_file(Compression::SNAPPY);
    let cut = &bytes[..bytes.len() - 20];
    let (report, _) = scan_bytes(cut, "cut.parquet");
    let error = report.summary.file_error.unwrap();
    assert_eq!(error.code, FileErrorCode::InvalidParquet, "{error:?}");

    // A gzip file relabelled as brotli in the footer: refused before any page is read.
    let mut bytes = write(
        "message m { required binary prompt (STRING); required binary completion (STRING); }",
        Compression::GZIP(GzipLevel::default()),
        vec![Col::Bytes(vec!["p"], None, None), Col::Bytes(vec!["c"], None, None)],
    );
    // ColumnMetaData: path_in_schema ends with the column name, then field 4 (codec, i32):
    // header 0x15, zigzag varint 2*codec (GZIP = 2 → 4, BROTLI = 4 → 8).
    let at = bytes.windows(8).rposition(|w| w == b"prompt\x15\x04").expect("codec field of prompt");
    bytes[at + 7] = 0x08;
    let (report, _) = scan_bytes(&bytes, "brotli.parquet");
    let error = report.summary.file_error.unwrap();
    assert_eq!(error.code, FileErrorCode::ParquetNotSupported, "{error:?}");
    assert!(error.message.contains("brotli") && error.message.contains("`prompt`"), "{error:?}");

    // A Parquet file given as JSONL is refused, not read as text.
    let options = ScanOptions { format: Some(FormatSpec::new(Container::Jsonl, Schema::Auto)), ..ScanOptions::default() };
    let report = scan(&chat_file(Compression::SNAPPY)[..], &options, |_, _, _| {}).unwrap();
    assert_eq!(report.summary.file_error.map(|e| e.code), Some(FileErrorCode::InvalidFormatSpec));
}

/// Bytes in memory behind the random-access interface, counting what is read.
struct Counted {
    bytes: Vec<u8>,
    read: std::sync::atomic::AtomicU64,
}

impl datasets::RandomAccess for Counted {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = offset as usize;
        let end = start.checked_add(buf.len()).filter(|&e| e <= self.bytes.len()).ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self.bytes[start..end]);
        self.read.fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn with_random_access_parquet_is_read_in_place_not_spooled() {
    let bytes = chat_file(Compression::ZSTD(ZstdLevel::default()));
    let (spooled, spooled_records) = scan_bytes(&bytes, "chat.parquet");
    let random = Arc::new(Counted { bytes: bytes.clone(), read: 0.into() });
    let shared: Arc<dyn datasets::RandomAccess> = random.clone();
    // The stream holds only the head: anything read past it would come back empty and fail
    // the footer, so the rows can only come from the random access.
    let head = &bytes[..datasets::HEAD_BYTES.min(bytes.len() / 2)];
    let options = ScanOptions { filename: Some("chat.parquet".into()), random_access: Some(shared.clone()), ..ScanOptions::default() };
    let mut records = Vec::new();
    let report = scan(head, &options, |_, _, r| records.push(r.clone())).unwrap();
    assert_eq!(
        (report.format.clone(), report.summary.valid_records),
        (spooled.format.clone(), spooled.summary.valid_records),
        "{:?}",
        report.errors
    );
    assert_eq!(records, spooled_records);
    assert!(random.read.load(std::sync::atomic::Ordering::Relaxed) > 0);
    let spec = spooled.format.unwrap();
    let preview = read_range(head, &spec, 1, 1, Some(&shared)).unwrap();
    assert_eq!(preview[0].record.as_ref(), Some(&spooled_records[1]));
}
