//! Progress while training: an indicatif bar per epoch (on a terminal), one
//! summary line per epoch, fitted to the terminal's width.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::train::Observer;

use crate::outln;

pub struct Progress {
    total_epochs: usize,
    /// Samples per full batch, for the rate.
    batch: usize,
    samples: usize,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(total_epochs: usize, batch: usize, samples: usize) -> Self {
        Progress {
            total_epochs,
            batch,
            samples,
            bar: None,
        }
    }
}

impl Observer for Progress {
    fn epoch_started(&mut self, epoch: usize, batches: usize) {
        let bar = ProgressBar::new(batches as u64);
        // `wide_bar` takes what the terminal's width leaves.
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{wide_bar}] {pos}/{len}  {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", self.total_epochs));
        self.bar = Some(bar);
    }

    fn batch_done(&mut self, batch: usize, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(batch as u64);
            // The first batch shows a loss at once; then every 16th.
            if batch == 1 || batch.is_multiple_of(16) {
                let samples = (batch * self.batch).min(self.samples);
                let seconds = bar.elapsed().as_secs_f64();
                let rate = if seconds > 0.0 {
                    format!("  {} samples/s", thousands(samples as f64 / seconds))
                } else {
                    String::new()
                };
                bar.set_message(format!("loss {loss:.4}{rate}"));
            }
        }
    }

    fn epoch_done(&mut self, record: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        outln!(
            "{}",
            epoch_line(record, self.total_epochs, terminal_width())
        );
    }

    fn should_stop(&mut self) -> bool {
        crate::interrupt::requested()
    }
}

/// One epoch's summary, its least important parts dropped to fit `width`.
pub fn epoch_line(record: &EpochRecord, total_epochs: usize, width: Option<usize>) -> String {
    let mut parts = vec![
        format!("epoch {}/{total_epochs}", record.epoch),
        // Regression has no accuracy (NaN): the loss alone.
        if record.train_accuracy.is_nan() {
            format!("loss {:.4}", record.train_loss)
        } else {
            format!(
                "loss {:.4} acc {:.2}%",
                record.train_loss,
                record.train_accuracy * 100.0
            )
        },
    ];
    match (record.val_loss, record.val_accuracy) {
        (Some(loss), Some(accuracy)) => {
            parts.push(format!("val loss {loss:.4} acc {:.2}%", accuracy * 100.0));
        }
        (Some(loss), None) => parts.push(format!("val loss {loss:.4}")),
        _ => {}
    }
    parts.push(format!("{} samples/s", thousands(record.samples_per_s)));
    parts.push(format!("{:.2} s", record.seconds));
    let mut line = parts.join("  ");
    while let Some(width) = width
        && line.chars().count() > width
        && parts.len() > 2
    {
        parts.pop();
        line = parts.join("  ");
    }
    line
}

/// A rate as a whole number with thin groups: `165`, `25 931`.
pub fn thousands(x: f64) -> String {
    let n = if x.is_finite() && x > 0.0 {
        x.round() as u64
    } else {
        0
    };
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The width of the terminal on stdout, or `None` when it is not one.
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    #[cfg(unix)]
    {
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
        if ok && size.ws_col > 0 {
            return Some(size.ws_col as usize);
        }
    }
    Some(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EpochRecord {
        EpochRecord {
            epoch: 3,
            train_loss: 0.46301,
            train_accuracy: 0.8761,
            val_loss: Some(0.2741),
            val_accuracy: Some(0.9611),
            lr: None,
            samples_per_s: 25931.4,
            seconds: 0.06,
        }
    }

    #[test]
    fn rates_are_whole_samples_per_second() {
        assert_eq!(thousands(165.0538), "165");
        assert_eq!(thousands(25931.4), "25 931");
        assert_eq!(thousands(1234567.0), "1 234 567");
        assert_eq!(thousands(f64::NAN), "0");
    }

    #[test]
    fn epoch_lines_fit_the_terminal() {
        let full = epoch_line(&record(), 10, None);
        assert_eq!(
            full,
            "epoch 3/10  loss 0.4630 acc 87.61%  val loss 0.2741 acc 96.11%  25 931 samples/s  0.06 s"
        );
        for width in [40, 60, 80] {
            let line = epoch_line(&record(), 10, Some(width));
            assert!(
                line.chars().count() <= width || line.split("  ").count() == 2,
                "{line}"
            );
            assert!(line.starts_with("epoch 3/10  loss 0.4630"), "{line}");
        }
    }
}
