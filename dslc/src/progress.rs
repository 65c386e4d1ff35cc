//! Progress while training: an indicatif bar per epoch (on a terminal), one
//! summary line per epoch.

use indicatif::{ProgressBar, ProgressStyle};
use nnspec_runtime::metrics::EpochRecord;
use nnspec_runtime::train::Observer;

pub struct Progress {
    total_epochs: usize,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(total_epochs: usize) -> Self {
        Progress {
            total_epochs,
            bar: None,
        }
    }
}

impl Observer for Progress {
    fn epoch_started(&mut self, epoch: usize, batches: usize) {
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} batches  loss {msg}  {per_sec}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", self.total_epochs));
        self.bar = Some(bar);
    }

    fn batch_done(&mut self, batch: usize, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(batch as u64);
            if batch.is_multiple_of(16) {
                bar.set_message(format!("{loss:.4}"));
            }
        }
    }

    fn epoch_done(&mut self, record: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let test = match (record.test_loss, record.test_accuracy) {
            (Some(loss), Some(accuracy)) => {
                format!("  test loss {loss:.4} acc {:.2}%", accuracy * 100.0)
            }
            _ => String::new(),
        };
        println!(
            "epoch {:>3}/{}  loss {:.4} acc {:.2}%{test}  {:>9.0} samples/s  {:.2} s",
            record.epoch,
            self.total_epochs,
            record.train_loss,
            record.train_accuracy * 100.0,
            record.samples_per_s,
            record.seconds
        );
    }
}
