//! Progress reports (工作进展) and their evidence files (佐证材料): what a report must hold.

use chrono::{DateTime, Utc};
use fazhi_platform::error::FieldViolation;
use fazhi_platform::string_enum;
use serde::{Deserialize, Serialize};

string_enum! {
    /// Where a unit says its work is.
    ProgressStatus {
        /// 未开始
        NotStarted = "not_started",
        /// 推进中
        InProgress = "in_progress",
        /// 已完成
        Completed = "completed",
        /// 受阻
        Blocked = "blocked",
    }
}

impl ProgressStatus {
    /// As the progress table prints it.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotStarted => "未开始",
            Self::InProgress => "推进中",
            Self::Completed => "已完成",
            Self::Blocked => "受阻",
        }
    }
}

/// Files a report may carry.
pub const MAX_EVIDENCE_FILES: usize = 10;
/// Bytes per file: scans of a few pages, photos, office documents.
pub const MAX_EVIDENCE_BYTES: usize = 8 * 1024 * 1024;
const MAX_NARRATIVE_CHARS: usize = 10_000;
const MAX_FILE_NAME_CHARS: usize = 200;

/// An evidence file as stored: its metadata; the content lives in the blob store by `sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
}

/// A progress report as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    pub id: String,
    pub assignment_id: String,
    pub status: ProgressStatus,
    pub percent: i32,
    pub narrative: String,
    pub evidence: Vec<Evidence>,
    pub reporter: String,
    pub create_time: DateTime<Utc>,
}

/// An uploaded file.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: String,
    pub content: Vec<u8>,
}

/// A report as the caller wrote it.
#[derive(Debug, Clone)]
pub struct ProgressInput {
    pub status: Option<ProgressStatus>,
    pub percent: i32,
    pub narrative: String,
    pub evidence: Vec<Upload>,
}

/// A checked report: the files with the content type read from their bytes.
#[derive(Debug, Clone)]
pub struct CheckedProgress {
    pub status: ProgressStatus,
    pub percent: i32,
    pub narrative: String,
    pub evidence: Vec<(Upload, &'static str)>,
}

/// The content type of an evidence file, read from its bytes (never from what the caller says),
/// or `None` for a type not accepted. OFD (the national e-document format) is a ZIP container
/// told apart by its extension.
pub fn evidence_type(file_name: &str, content: &[u8]) -> Option<&'static str> {
    const ACCEPTED: [&str; 7] = [
        "application/pdf",
        "image/jpeg",
        "image/png",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/msword",
        "application/vnd.ms-excel",
    ];
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match infer::get(content).map(|kind| kind.mime_type()) {
        Some("application/zip") if extension == "ofd" => Some("application/ofd"),
        // Legacy .doc/.xls are OLE containers `infer` does not always tell apart.
        Some("application/x-ole-storage") => Some(match extension.as_str() {
            "xls" => "application/vnd.ms-excel",
            _ => "application/msword",
        }),
        Some(kind) => ACCEPTED.into_iter().find(|accepted| *accepted == kind),
        None if std::str::from_utf8(content).is_ok() => Some("text/plain"),
        None => None,
    }
}

impl ProgressInput {
    /// Status and narrative required, percent within 0–100 and 100 when completed, files within
    /// count, size and type limits; every violation named.
    pub fn check(self) -> Result<CheckedProgress, Vec<FieldViolation>> {
        let mut violations = Vec::new();
        if self.status.is_none() {
            violations.push(FieldViolation::required("status"));
        }
        if !(0..=100).contains(&self.percent) {
            violations.push(FieldViolation::new(
                "percent",
                "OUT_OF_RANGE",
                "percent must be between 0 and 100",
                "完成进度须在 0 至 100 之间",
            ));
        } else if self.status == Some(ProgressStatus::Completed) && self.percent != 100 {
            violations.push(FieldViolation::new(
                "percent",
                "COMPLETED_BELOW_100",
                "a completed report must say 100 percent",
                "状态为已完成时,完成进度须为 100",
            ));
        }
        let narrative = self.narrative.trim().to_owned();
        if narrative.is_empty() {
            violations.push(FieldViolation::required("narrative"));
        } else if narrative.chars().count() > MAX_NARRATIVE_CHARS {
            violations.push(FieldViolation::new(
                "narrative",
                "TOO_LONG",
                format!("narrative must be at most {MAX_NARRATIVE_CHARS} characters"),
                format!("工作进展不能超过 {MAX_NARRATIVE_CHARS} 字"),
            ));
        }
        if self.evidence.len() > MAX_EVIDENCE_FILES {
            violations.push(FieldViolation::new(
                "evidence",
                "TOO_MANY_FILES",
                format!("at most {MAX_EVIDENCE_FILES} files per report"),
                format!("每次报送最多 {MAX_EVIDENCE_FILES} 个佐证材料"),
            ));
        }
        let mut evidence = Vec::new();
        for (index, upload) in self.evidence.into_iter().enumerate() {
            match check_upload(index, &upload) {
                Ok(content_type) => evidence.push((upload, content_type)),
                Err(violation) => violations.push(violation),
            }
        }
        match self.status {
            Some(status) if violations.is_empty() => Ok(CheckedProgress {
                status,
                percent: self.percent,
                narrative,
                evidence,
            }),
            _ => Err(violations),
        }
    }
}

fn check_upload(index: usize, upload: &Upload) -> Result<&'static str, FieldViolation> {
    let name = upload.file_name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_FILE_NAME_CHARS
        || name.contains(['/', '\\', '\0'])
    {
        return Err(FieldViolation::new(
            format!("evidence[{index}].file_name"),
            "INVALID_FILE_NAME",
            format!("a file name of 1 to {MAX_FILE_NAME_CHARS} characters without path separators"),
            format!("文件名须为 1 至 {MAX_FILE_NAME_CHARS} 个字符,且不含路径分隔符"),
        ));
    }
    let field = format!("evidence[{index}].content");
    if upload.content.is_empty() {
        return Err(FieldViolation::required(field));
    }
    if upload.content.len() > MAX_EVIDENCE_BYTES {
        return Err(FieldViolation::new(
            field,
            "TOO_LARGE",
            format!("{name} is larger than {MAX_EVIDENCE_BYTES} bytes"),
            format!("{name} 超过 {} MB", MAX_EVIDENCE_BYTES / 1024 / 1024),
        ));
    }
    evidence_type(name, &upload.content).ok_or_else(|| {
        FieldViolation::new(
            field,
            "UNSUPPORTED_TYPE",
            format!("{name}: only PDF, OFD, JPEG, PNG, Word, Excel or plain text files"),
            format!("{name}:仅支持 PDF、OFD、JPEG、PNG、Word、Excel 或纯文本文件"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(status: Option<ProgressStatus>, percent: i32, files: Vec<Upload>) -> ProgressInput {
        ProgressInput {
            status,
            percent,
            narrative: "已完成清单梳理".to_owned(),
            evidence: files,
        }
    }

    fn fields(result: Result<CheckedProgress, Vec<FieldViolation>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|violation| violation.field)
            .collect()
    }

    #[test]
    fn types_are_read_from_the_bytes() {
        assert_eq!(
            evidence_type("a.pdf", b"%PDF-1.7\n"),
            Some("application/pdf")
        );
        assert_eq!(
            evidence_type("photo.jpg", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some("image/jpeg")
        );
        assert_eq!(
            evidence_type("说明.txt", "工作说明".as_bytes()),
            Some("text/plain")
        );
        // A program renamed to .pdf is not a PDF.
        assert_eq!(evidence_type("a.pdf", b"MZ\x90\x00\x03\x00\x00\x00"), None);
        assert_eq!(evidence_type("a.bin", &[0xFF, 0xFE, 0x00, 0x81]), None);
    }

    #[test]
    fn a_report_names_every_bad_field() {
        let pdf = || Upload {
            file_name: "清单.pdf".to_owned(),
            content: b"%PDF-1.4\n".to_vec(),
        };
        assert!(
            input(Some(ProgressStatus::InProgress), 40, vec![pdf()])
                .check()
                .is_ok()
        );
        assert_eq!(fields(input(None, 40, vec![]).check()), ["status"]);
        assert_eq!(
            fields(input(Some(ProgressStatus::Completed), 90, vec![]).check()),
            ["percent"]
        );
        assert_eq!(
            fields(input(Some(ProgressStatus::InProgress), 101, vec![]).check()),
            ["percent"]
        );
        let bad = vec![
            Upload {
                file_name: "../etc/passwd".to_owned(),
                content: b"x".to_vec(),
            },
            Upload {
                file_name: "big.pdf".to_owned(),
                content: vec![b'%'; MAX_EVIDENCE_BYTES + 1],
            },
            pdf(),
        ];
        assert_eq!(
            fields(input(Some(ProgressStatus::InProgress), 40, bad).check()),
            ["evidence[0].file_name", "evidence[1].content"]
        );
        let too_many = (0..=MAX_EVIDENCE_FILES).map(|_| pdf()).collect();
        assert_eq!(
            fields(input(Some(ProgressStatus::InProgress), 40, too_many).check()),
            ["evidence"]
        );
    }
}
