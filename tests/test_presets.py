"""Teacher presets build the fairseq transformer they describe; deep-shallow is a teacher-only preset."""
import pytest
from click.testing import CliRunner

from vqnat_cli.main import cli


def build_teacher(data, preset):
    """The fairseq model ``vqnat train teacher --preset PRESET`` would train on ``data``."""
    from fairseq import options, tasks

    from vqnat.presets import teacher_args
    from vqnat_cli.fairseq_bridge import user_dir

    argv = [str(data), "--user-dir", user_dir(), *teacher_args(preset), "--cpu"]
    args = options.parse_args_and_arch(options.get_training_parser(), input_args=argv)
    return tasks.setup_task(args).build_model(args)


def shape(model):
    return (len(model.encoder.layers), len(model.decoder.layers), model.encoder.embed_tokens.embedding_dim,
            model.encoder.layers[0].fc1.out_features, model.decoder.layers[0].self_attn.num_heads)


def parameters(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.mark.parametrize("preset,layers", [("small-deep-shallow", (6, 1)), ("base-deep-shallow", (12, 1))])
def test_deep_shallow_teacher_has_the_width_of_its_preset_a_deep_encoder_and_one_decoder_layer(toy_data, preset,
                                                                                              layers):
    width = preset.split("-")[0]
    deep_shallow, same_width = build_teacher(toy_data, preset), build_teacher(toy_data, width)
    assert shape(deep_shallow) == (*layers, *shape(same_width)[2:])
    assert shape(same_width)[:2] == ({"small": 3, "base": 6}[width],) * 2
    # the layers moved from the decoder to the encoder, not added: within 10% of the preset's parameters
    assert abs(parameters(deep_shallow) / parameters(same_width) - 1) < 0.1


def test_deep_shallow_shares_its_width_presets_optimisation():
    from vqnat.presets import default_max_update, optimisation_args, save_interval_updates

    for preset, width in (("small-deep-shallow", "small"), ("base-deep-shallow", "base")):
        assert optimisation_args(preset) == optimisation_args(width)
        assert default_max_update(preset) == default_max_update(width)
        assert save_interval_updates(preset) == save_interval_updates(width)


def test_deep_shallow_is_not_a_vqnat_preset(toy_data, tmp_path):
    result = CliRunner().invoke(cli, ["train", "vqnat", str(toy_data), "--save-dir", str(tmp_path),
                                      "--preset", "small-deep-shallow"])
    assert result.exit_code == 2
    assert "--preset" in result.output
