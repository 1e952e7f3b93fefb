//! Tables as `.xlsx` workbooks (the users export, a bulk run's result): one sheet, a header
//! row that is frozen and filtered, every cell written as text in text-formatted columns
//! (`@`), so that nothing is ever a formula (a value starting with `=` stays text, and no `'`
//! is added as the CSV export must) and a login ID `000123` stays `000123`. Column widths fit
//! the longest value, counting full-width (Japanese) characters as two.

use crate::error::ServiceError;
use rust_xlsxwriter::{Format, Workbook};

/// Narrowest and widest column, in Excel's character widths.
const MIN_WIDTH: f64 = 8.0;
const MAX_WIDTH: f64 = 60.0;

/// How wide `text` shows: East Asian wide and full-width characters count two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| {
            let c = u32::from(c);
            let wide = (0x1100..=0x115F).contains(&c)
                || (0x2E80..=0xA4CF).contains(&c)
                || (0xAC00..=0xD7A3).contains(&c)
                || (0xF900..=0xFAFF).contains(&c)
                || (0xFE30..=0xFE4F).contains(&c)
                || (0xFF00..=0xFF60).contains(&c)
                || (0xFFE0..=0xFFE6).contains(&c)
                || (0x20000..=0x3FFFD).contains(&c);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

/// One sheet named `sheet`: `header`, then `rows`, all text.
pub fn write_table(
    sheet: &str,
    header: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, ServiceError> {
    let failed = |e: rust_xlsxwriter::XlsxError| ServiceError::Internal(format!("xlsx: {e}"));
    let mut book = Workbook::new();
    let text = Format::new().set_num_format("@");
    let bold = Format::new().set_num_format("@").set_bold();
    let ws = book.add_worksheet();
    ws.set_name(sheet).map_err(failed)?;
    let columns = u16::try_from(header.len()).unwrap_or(u16::MAX);
    for (c, name) in header.iter().enumerate() {
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        ws.write_string_with_format(0, c, *name, &bold)
            .map_err(failed)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, value) in row.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            ws.write_string_with_format(r, c, value, &text)
                .map_err(failed)?;
        }
    }
    for c in 0..columns {
        let widest = std::iter::once(header[usize::from(c)])
            .chain(
                rows.iter()
                    .filter_map(|r| r.get(usize::from(c)).map(String::as_str)),
            )
            .map(display_width)
            .max()
            .unwrap_or(0);
        let width = (widest as f64 + 2.0).clamp(MIN_WIDTH, MAX_WIDTH);
        ws.set_column_width(c, width).map_err(failed)?;
        ws.set_column_format(c, &text).map_err(failed)?;
    }
    ws.set_freeze_panes(1, 0).map_err(failed)?;
    if columns > 0 {
        let last = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        ws.autofilter(0, 0, last, columns - 1).map_err(failed)?;
    }
    book.save_to_buffer().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_characters_count_two() {
        assert_eq!(display_width("yamada01"), 8);
        assert_eq!(display_width("山田 太郎"), 9);
        assert_eq!(display_width("ｋｏ"), 4);
    }
}
