

# The distributed trainer, part 2 of 2: the training loop under DistributedDataParallel,
# evaluation, checkpoints and metrics.json (part 1, train_data.py, reads the data).
class Task:
    """What the loss needs: class indices (cross_entropy) or one 0/1 logit (bce_with_logits)."""

    def __init__(self, loss, width):
        self.loss = loss
        self.binary = isinstance(loss, nn.BCEWithLogitsLoss)
        if not CLASSIFICATION or not (
            self.binary or isinstance(loss, nn.CrossEntropyLoss)
        ):
            raise UserError(
                f"model `{MODEL.__name__}`: this trainer reads class labels; train float targets "
                "(mse, l1, smooth_l1) with `dslc train --target`"
            )
        if self.binary and width != 1:
            raise UserError(
                f"model `{MODEL.__name__}`: bce_with_logits over {width} outputs needs multi-label "
                "targets; train it with `dslc train`"
            )
        self.classes = 2 if self.binary else width

    def target(self, output, y):
        return y.to(output.dtype).reshape(output.shape) if self.binary else y

    def predict(self, output):
        return (output.reshape(-1) > 0).long() if self.binary else output.argmax(dim=1)


def first_output(output):
    return output[0] if isinstance(output, tuple) else output


@torch.no_grad()
def evaluate(model, task, part, device, batch, confusion=False):
    """Mean loss and accuracy over a whole split (and its confusion matrix)."""
    model.eval()
    x, y = part
    loss_sum, correct = 0.0, 0
    matrix = torch.zeros(task.classes, task.classes, dtype=torch.int64)
    for start in range(0, len(x), batch):
        xb, yb = (
            x[start : start + batch].to(device),
            y[start : start + batch].to(device),
        )
        out = first_output(model(xb))
        loss_sum += float(task.loss(out, task.target(out, yb))) * len(xb)
        predicted = task.predict(out)
        correct += int((predicted == yb).sum())
        if confusion:
            pairs = (yb * task.classes + predicted).cpu()
            matrix += torch.bincount(pairs, minlength=task.classes**2).reshape(
                matrix.shape
            )
    model.train()
    return loss_sum / max(len(x), 1), correct / max(len(x), 1), matrix


class Selection:
    """runtime/src/train/selection.rs: the best epoch on the validation split, and Keras-style
    early stopping (stop after `patience` epochs without an improvement by `min_delta`)."""

    def __init__(self, early_stopping):
        monitor, patience, min_delta = early_stopping or ("val_loss", None, 0.0)
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.patience = None if patience is None else max(patience, 1)
        self.best, self.wait, self.stopped = None, 0, False

    def observe(self, epoch, val_loss, val_accuracy):
        value = val_loss if self.monitor == "val_loss" else val_accuracy
        improved = float("-inf") < value < float("inf") and (
            self.best is None
            or (
                value < self.best[1] - self.min_delta
                if self.monitor == "val_loss"
                else value > self.best[1] + self.min_delta
            )
        )
        if improved:
            self.best, self.wait = (epoch, value), 0
        else:
            self.wait += 1
        self.stopped |= self.patience is not None and self.wait >= self.patience
        return improved


def report(matrix, names):
    """runtime/src/metrics.rs's Report: per-class precision, recall, F1 (0 for 0/0)."""
    rows = matrix.tolist()
    k, total = len(rows), sum(map(sum, rows))
    per_class = []
    for c in range(k):
        tp, support, predicted = rows[c][c], sum(rows[c]), sum(r[c] for r in rows)
        entry = {"class": c}
        if names:
            entry["name"] = names[c]
        entry.update(
            precision=tp / predicted if predicted else 0.0,
            recall=tp / support if support else 0.0,
            f1=2 * tp / (support + predicted) if support + predicted else 0.0,
            support=support,
        )
        per_class.append(entry)

    def average(weighted):
        def mean(key):
            if weighted:
                return (
                    sum(m[key] * m["support"] for m in per_class) / total
                    if total
                    else 0.0
                )
            return sum(m[key] for m in per_class) / max(k, 1)

        return {key: mean(key) for key in ("precision", "recall", "f1")}

    out = {
        "samples": total,
        "accuracy": sum(rows[c][c] for c in range(k)) / total if total else 0.0,
        "per_class": per_class,
        "macro_avg": average(False),
        "weighted_avg": average(True),
    }
    if names:
        out["class_names"] = names
    out["confusion_matrix"] = rows
    return out


def write_atomically(path, write):
    """Writes through a temporary name in the same directory, then renames: a reader (or a
    crash) sees the old file or the new one, never half of one."""
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        write(temporary)
        mask = os.umask(
            0
        )  # safetensors creates files 0600; give the usual 0666 & ~umask
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as e:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise UserError(f"{path}: cannot write: {e}") from None


def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def save_checkpoint(model, path, epochs, run):
    """model.safetensors as `dslc train` writes it: the state_dict under nnspec's names (the
    module's own; DDP's `module.` prefix never reaches them) and the run's settings."""
    state = {
        k.removeprefix("module."): v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    metadata = {"format": "pt", "model": MODEL.__name__, "epochs": str(epochs), **run}
    write_atomically(path, lambda name: save_file(state, name, metadata=metadata))


def load_init(model, path):
    """--init: an nnspec checkpoint's weights, every name present and no other (strict)."""
    try:
        with safe_open(path, "pt") as f:
            saved = (f.metadata() or {}).get("model")
        tensors = load_file(path)
    except (OSError, SafetensorError) as e:
        raise UserError(f"--init {path}: cannot read as safetensors: {e}") from None
    if saved not in (None, MODEL.__name__):
        raise UserError(f"--init {path}: holds model `{saved}`, not `{MODEL.__name__}`")
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise UserError(f"--init {path}: {' '.join(str(e).split())}") from None


def printer(rank):
    """Rank 0's progress lines; a closed stdout (`| head`) stops the printing, not the run."""
    printing = [rank == 0]

    def say(text):
        if printing[0]:
            try:
                print(text, flush=True)
            except BrokenPipeError:
                printing[0] = False
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    return say


def arguments():
    parser = argparse.ArgumentParser(
        description=f"Train {MODEL.__name__} (one process, or many under torchrun)."
    )
    parser.add_argument(
        "--data",
        required=True,
        help="a directory of IDX files, a CSV (.csv.gz) or an .npz file",
    )
    parser.add_argument(
        "--out", required=True, help="where to write model.safetensors and metrics.json"
    )
    parser.add_argument(
        "--normalize",
        choices=("tutorial", "unit", "none"),
        help="input scaling (default as dslc train: tutorial for images, none for CSV, float data)",
    )
    parser.add_argument(
        "--epochs", type=int, help=f"epochs (default {globals().get('EPOCHS')})"
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed for initialization, shuffling and the 80/20 split",
    )
    parser.add_argument("--init", help="start from this nnspec safetensors checkpoint")
    parser.add_argument("--threads", type=int, help="torch threads per process")
    args = parser.parse_args()
    if "BATCH" not in globals():
        parser.error(
            f"model `{MODEL.__name__}` has no train block in its .nn file; add one"
        )
    for flag, low, high in (
        ("epochs", 1, 10**6),
        ("seed", 0, M64),
        ("threads", 1, 1024),
    ):
        value = getattr(args, flag)
        if value is not None and not low <= value <= high:
            parser.error(f"--{flag} {value}: must be from {low} to {high}")
    return args


def main():
    args = arguments()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    try:
        train(args, world, rank)
    except UserError as e:
        # Every rank meets the same bad input: one line, not one per process.
        if rank == 0:
            print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def train_epoch(net, model, loader, opt, scheduler, task, device):
    """One pass over this rank's share; returns the training loss sum, correct and
    samples over every rank (float64)."""
    sums = torch.zeros(3, dtype=torch.float64)
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad(set_to_none=True)
        out = first_output(net(xb))
        loss = task.loss(out, task.target(out, yb))
        loss.backward()
        clip_gradients(model.parameters())
        opt.step()
        if scheduler is not None:
            scheduler.after_step()
        with torch.no_grad():
            correct = (task.predict(out) == yb).sum()
            sums += torch.stack(
                [
                    loss.detach().double().cpu() * len(xb),
                    correct.double().cpu(),
                    torch.tensor(float(len(xb)), dtype=torch.float64),
                ]
            )
    if dist.is_initialized():
        dist.all_reduce(sums)
    return sums


def score(model, task, parts, device, rank):
    """Validation and test loss and accuracy (NaN without a validation split): rank 0
    scores the whole splits with one model, exactly, and tells every rank."""
    val_part, test_part = parts
    scores = torch.full((4,), float("nan"), dtype=torch.float64)
    if rank == 0:
        batch = max(BATCH, 256)
        if val_part:
            scores[:2] = torch.tensor(
                evaluate(model, task, val_part, device, batch)[:2]
            )
        scores[2:] = torch.tensor(evaluate(model, task, test_part, device, batch)[:2])
    if dist.is_initialized():
        dist.broadcast(scores, 0)
    return scores.tolist()


def write_metrics(out, model, task, parts, run_facts, say):
    """metrics.json in `dslc train`'s format, from the test split scored once more with
    the weights the checkpoint holds."""
    val_part, test_part = parts
    train_count, history, selection, seed, data, names, device = run_facts
    test_loss, test_accuracy, matrix = evaluate(
        model, task, test_part, device, max(BATCH, 256), confusion=True
    )
    train_seconds = sum(r["seconds"] for r in history)
    metrics = {
        "model": MODEL.__name__,
        "data": data,
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "test_samples": len(test_part[0]),
    }
    if val_part:
        metrics["validation_samples"] = len(val_part[0])
        if selection.best is not None:
            metrics["selection"] = {
                "monitor": selection.monitor,
                "best_epoch": selection.best[0],
                "best_value": selection.best[1],
                "stopped_early": selection.stopped,
                "weights_from": "best" if EARLY_STOPPING else "last",
            }
    metrics.update(
        epochs=len(history),
        train_samples_per_s=train_count * len(history) / train_seconds,
        train_seconds=train_seconds,
        batch=BATCH,
        lr=LR,
        seed=seed,
        threads=torch.get_num_threads(),
        confusion_matrix=matrix.tolist(),
        report=report(matrix, names),
        history=history,
    )
    path = os.path.join(out, "metrics.json")
    write_atomically(
        path, lambda name: write_text(name, json.dumps(metrics, indent=2) + "\n")
    )
    say(
        f"\ntest: loss {test_loss:.4f}, accuracy {test_accuracy:.2%} ({int(matrix.trace())} of "
        f"{len(test_part[0])})"
    )
    return path


def train(args, world, rank):
    epochs = args.epochs or EPOCHS
    seed = SEED if args.seed is None else args.seed
    if BATCH % world:
        raise UserError(
            f"batch {BATCH} is not divisible by the {world} processes (WORLD_SIZE); each process "
            "takes an equal share"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    if len(MODEL.INPUTS) != 1:
        raise UserError(
            f"model `{MODEL.__name__}` has {len(MODEL.INPUTS)} inputs; training reads one input "
            "per sample"
        )
    ((shape, dtype),) = MODEL.INPUTS.values()
    tokens = getattr(MODEL, "TOKENS", None) if dtype == torch.int64 else None
    data = os.path.realpath(args.data)
    train_part, test_part, _, names, scaling = load_data(
        data, args.normalize, seed, tokens
    )
    torch.manual_seed(seed)
    model = MODEL()
    if args.init:
        load_init(model, args.init)
    else:
        model.reset_parameters()
    with torch.no_grad():  # the output's width: the number of classes
        probe = first_output(model.eval()(torch.zeros(1, *shape, dtype=dtype)))
    task = Task(loss_function(), probe.shape[1] if probe.dim() > 1 else 1)
    model.train()
    for what, (x, y) in (("train split", train_part), ("test split", test_part)):
        if len(y) and int(y.max()) >= task.classes:
            index = int((y >= task.classes).nonzero()[0])
            raise UserError(
                f"{data} ({what}): sample {index} has label {int(y[index])}, but the model has "
                f"only {task.classes} classes"
            )
    if names:
        names = (names + [str(c) for c in range(len(names), task.classes)])[
            : task.classes
        ]
    train_part = fit_to_model(train_part, shape, dtype, tokens, data, "train split")
    test_part = fit_to_model(test_part, shape, dtype, tokens, data, "test split")
    val_part = None
    if VALIDATION:
        kept, held = held_out_split(
            train_part[1].tolist(),
            task.classes,
            VALIDATION,
            seed ^ VALIDATION_STREAM,
            "validation",
        )
        val_part = tuple(t[held] for t in train_part)
        train_part = tuple(t[kept] for t in train_part)
    if EARLY_STOPPING and not VALIDATION:
        raise UserError(
            "early stopping needs a validation split (`validation:` in the train block)"
        )
    run = {
        "clip": CLIP,
        "seed": str(seed),
        "data": data,
        "data_fingerprint": fingerprint(data),
        "normalize": scaling,
        "batch": str(BATCH),
        "lr": rust_float(LR),
        "validation": "none" if VALIDATION is None else rust_float(VALIDATION),
    }
    os.makedirs(args.out, exist_ok=True)

    # Every check is done: only now join the other processes (a process that stopped early
    # with an error would leave the others waiting for it here).
    distributed = "WORLD_SIZE" in os.environ
    device = torch.device("cpu")
    if distributed:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    model.to(device)
    task.loss.to(device)  # a class-weighted cross-entropy holds its weights as a buffer
    net = (
        DistributedDataParallel(
            model, device_ids=[local] if device.type == "cuda" else None
        )
        if distributed
        else model
    )
    sampler = DistributedSampler(
        TensorDataset(*train_part),
        num_replicas=world,
        rank=rank,
        shuffle=True,
        seed=seed % 2**63,
    )
    loader = DataLoader(
        TensorDataset(*train_part), batch_size=BATCH // world, sampler=sampler
    )
    opt = optimizer(net.parameters())
    # A schedule's length follows --epochs when the emitted schedule() takes it.
    takes_epochs = "epochs" in inspect.signature(schedule).parameters
    scheduler = schedule(
        opt, len(loader), **({"epochs": epochs} if takes_epochs else {})
    )
    selection = Selection(EARLY_STOPPING)
    history, best_state = [], None
    say = printer(rank)
    val_note = f"{len(val_part[0])} validation, " if val_part else ""
    shares = ""
    if distributed:
        shares = (
            f" ({BATCH // world} in each of {world} processes, {dist.get_backend()})"
        )
    say(
        f"training {MODEL.__name__} on {data}\n  {len(train_part[0])} training, "
        f"{val_note}{len(test_part[0])} test samples; {epochs} epochs, batch {BATCH}"
        f"{shares}, scaling {scaling}",
    )
    for epoch in range(1, epochs + 1):
        sampler.set_epoch(epoch - 1)
        started = time.perf_counter()
        sums = train_epoch(net, model, loader, opt, scheduler, task, device)
        seconds = time.perf_counter() - started
        scores = score(model, task, (val_part, test_part), device, rank)
        val_loss, val_accuracy, test_loss, test_accuracy = scores
        if scheduler is not None:
            scheduler.after_epoch(val_loss if val_part else None)
        record = {
            "epoch": epoch,
            "train_loss": float(sums[0] / sums[2]),
            "train_accuracy": float(sums[1] / sums[2]),
            "val_loss": val_loss if val_part else None,
            "val_accuracy": val_accuracy if val_part else None,
        }
        if scheduler is not None:
            record["lr"] = opt.param_groups[0]["lr"]
        record.update(samples_per_s=len(train_part[0]) / seconds, seconds=seconds)
        history.append(record)
        if val_part and selection.observe(epoch, val_loss, val_accuracy):
            best_state = copy.deepcopy(model.state_dict())
            if rank == 0:
                save_checkpoint(
                    model, os.path.join(args.out, "best.safetensors"), epoch, run
                )
        if rank == 0:
            save_checkpoint(
                model, os.path.join(args.out, "model.safetensors"), epoch, run
            )
        val_text = (
            f"; val loss {val_loss:.4f}, accuracy {val_accuracy:.2%}"
            if val_part
            else ""
        )
        say(
            f"epoch {epoch}/{epochs}: train loss {record['train_loss']:.4f}, accuracy "
            f"{record['train_accuracy']:.2%}{val_text}; test loss {test_loss:.4f}, accuracy "
            f"{test_accuracy:.2%} ({seconds:.2f} s)",
        )
        if selection.stopped:
            say(
                f"stopping early after epoch {epoch}: {selection.monitor} has not improved for "
                f"{selection.wait} epochs"
            )
            break
    weights_epoch = len(history)
    if EARLY_STOPPING and selection.best is not None:
        model.load_state_dict(best_state)
        weights_epoch = selection.best[0]
    if rank == 0:
        save_checkpoint(
            model, os.path.join(args.out, "model.safetensors"), weights_epoch, run
        )
        path = write_metrics(
            args.out,
            model,
            task,
            (val_part, test_part),
            (len(train_part[0]), history, selection, seed, data, names, device),
            say,
        )
        say(f"wrote:\n  {os.path.join(args.out, 'model.safetensors')}\n  {path}")
    if distributed:
        # The others wait for rank 0's files: a process group torn down while a peer still
        # works aborts that peer (gloo: "terminate called without an active exception").
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
