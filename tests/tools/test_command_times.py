from pathlib import Path

from practical_dl.tools.command_times import report


def test_the_report_gives_medians_ratios_to_help_and_predict_beyond_its_pipeline():
    times = {
        Path("/clone"): {
            "kedro --help": [4.0, 3.0, 5.0],
            "kedro registry list": [8.0, 6.0, 7.0],
            "a bad parameter named": [9.0, 9.0, 9.0],
            "kedro run --pipelines predict": [12.0, 11.0, 13.0],
            "predict's pipeline": [4.0, 5.0, 3.0],
        }
    }
    table = report(times, rounds=3)
    assert "/clone (medians of 3 rounds)" in table
    assert "| kedro registry list | 7.00 | 1.75 |" in table
    assert "| a bad parameter named | 9.00 | 2.25 |" in table
    assert "| predict beyond its pipeline | 8.00 | 2.00 |" in table
