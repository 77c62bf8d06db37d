from handkit.experiments.pipeline import finished_epochs


def testfinished_epochs_read_from_the_newest_epoch_checkpoint(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    assert finished_epochs(tmp_path) == 0
    (checkpoints / "last.ckpt").touch()
    assert finished_epochs(tmp_path) == 0  # last.ckpt alone says nothing about the count
    (checkpoints / "epoch=4.ckpt").touch()  # epochs count from 0: five are done
    assert finished_epochs(tmp_path) == 5
    (checkpoints / "epoch=11.ckpt").touch()  # numeric, not lexical, order
    assert finished_epochs(tmp_path) == 12
