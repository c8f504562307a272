"""sitegen.toml: defaults, validation in one pass, messages naming file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitegen.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "sitegen.toml").write_text(text, encoding="utf-8")
    return tmp_path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.problems


def test_empty_file_gives_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.site.grain == "month"
    assert config.site.period == "latest"
    assert config.data_dir == tmp_path / "data"
    assert config.status.amber_band == 0.05
    assert config.status.min_denominator == 11
    assert config.pdf.enabled is True
    assert config.pdf.paper == "us-letter"
    assert config.email.smtp_port == 25
    assert config.email.password_env == "SITEGEN_SMTP_PASSWORD"


def test_values_are_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[site]\ngrain = "quarter"\nperiod = "2025-Q3"\n[status]\namber_band = 0\n'
            'min_denominator = 30\n[pdf]\npaper = "a4"\n'
            "[email]\nsmtp_port = 587\nstarttls = true\n",
        )
    )
    assert (config.site.grain, config.site.period) == ("quarter", "2025-Q3")
    assert config.status.amber_band == 0.0
    assert isinstance(config.status.amber_band, float)
    assert config.status.min_denominator == 30
    assert config.pdf.paper == "a4"
    assert (config.email.smtp_port, config.email.starttls) == (587, True)


def test_every_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[site]\ngrian = "month"\nperiod = "Sep 2025"\n[status]\namber_band = "5%"\n'
        'min_denominator = true\n[pdf]\npaper = "legal"\n[emial]\nsender = "x"\n'
        '[email]\nsmtp_port = 70000\nsender = "not an address"\n',
    )
    where = str(tmp_path / "sitegen.toml")
    assert found == [
        f"{where}: [site] grian: unknown key (did you mean 'grain'?)",
        f"{where}: [site] period: must be \"latest\" or a period: 'Sep 2025' is not a period "
        'like "2025-09", "2025-Q3" or "2025"',
        f"{where}: [status] amber_band: must be a number (got '5%')",
        f"{where}: [status] min_denominator: must be a whole number (got True)",
        f"{where}: [pdf] paper: must be one of us-letter, a4 (got 'legal')",
        f"{where}: [emial]: unknown section (did you mean 'email'?)",
        f"{where}: [email] smtp_port: must be between 1 and 65535 (got 70000)",
        f"{where}: [email] sender: is not an email address: 'not an address'",
    ]


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    found = problems(tmp_path, '[site]\ntitle = "unclosed\n')
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'sitegen.toml'}: invalid TOML: ")
    assert "line 2" in found[0]


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'sitegen.toml'}: not found (create a project with `sitegen init DIR`, "
        "or pass --project)"
    ]


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    assert problems(tmp_path, 'site = "x"\n') == [
        f"{tmp_path / 'sitegen.toml'}: [site] must be a table"
    ]


def test_period_must_match_grain(tmp_path: Path) -> None:
    assert problems(tmp_path, '[site]\ngrain = "month"\nperiod = "2025-Q3"\n') == [
        f"{tmp_path / 'sitegen.toml'}: [site] period: '2025-Q3' is a quarter but grain is 'month'"
    ]


@pytest.mark.parametrize("folder", ["../elsewhere", "/srv/shared/data", "data/../../x"])
def test_the_data_folder_must_be_inside_the_project(tmp_path: Path, folder: str) -> None:
    (tmp_path / "sitegen.toml").write_text(f'[data]\ndir = "{folder}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'sitegen.toml'}: [data] dir: must be a folder inside the project, since "
        f"nothing outside it is read (got {folder!r})"
    ]


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    (tmp_path / "sitegen.toml").write_bytes(b'\xef\xbb\xbf[site]\ntitle = "With BOM"\n')
    assert load_config(tmp_path).site.title == "With BOM"


@pytest.mark.parametrize(
    ("url", "fine"),
    [
        ("", True),
        ("https://scorecards.alliance.internal/", True),
        ("HTTP://intranet/scorecards", True),
        ("/scorecards/", True),
        ("scorecards", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>x</script>", False),
        ("file:///etc/passwd", False),
        ("https://x\n.example", False),
    ],
)
def test_base_url_is_a_web_address_or_a_path(tmp_path: Path, url: str, fine: bool) -> None:
    (tmp_path / "sitegen.toml").write_text(
        f"[site]\nbase_url = {json.dumps(url)}\n", encoding="utf-8"
    )
    if fine:
        assert load_config(tmp_path).site.base_url == url
        return
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    [problem] = caught.value.problems
    assert "[site] base_url: must be an http:// or https:// address or a path" in problem
    assert "\n" not in problem
