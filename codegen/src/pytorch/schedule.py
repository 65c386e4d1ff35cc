

class Schedule:
    """nnspec's learning-rate schedule, built from PyTorch's schedulers.

    A warmup of `warmup_epochs` epochs is LinearLR(start_factor=1/(W+1),
    end_factor=1, total_iters=W) over its W optimizer steps. The schedule
    proper (`build()`) is constructed when the warmup is over, so it counts
    its epochs from there, and then steps after every epoch ("epoch"),
    after every optimizer step ("step"), or on the validation loss after
    every epoch ("plateau").
    """

    def __init__(self, optimizer, warmup_epochs, steps_per_epoch, per, build):
        self.warmup_epochs = warmup_epochs
        self.per = per
        self.build = build
        self.epochs_done = 0
        self.scheduler = None
        if warmup_epochs > 0:
            steps = warmup_epochs * steps_per_epoch
            self.warmup = torch.optim.lr_scheduler.LinearLR(
                optimizer, start_factor=1 / (steps + 1), end_factor=1.0, total_iters=steps
            )
        elif build is not None:
            self.scheduler = build()

    def in_warmup(self):
        return self.epochs_done < self.warmup_epochs

    def started(self):
        """The schedule proper, constructed on first use after the warmup."""
        if self.scheduler is None and self.build is not None:
            self.scheduler = self.build()
        return self.scheduler

    def after_step(self):
        if self.in_warmup():
            self.warmup.step()
        elif self.per == "step":
            self.started().step()

    def after_epoch(self, val_loss=None):
        in_warmup = self.in_warmup()
        self.epochs_done += 1
        if in_warmup:
            return
        if self.per == "epoch":
            self.started().step()
        elif self.per == "plateau" and val_loss is not None:
            self.started().step(val_loss)
