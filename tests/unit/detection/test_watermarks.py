from audit.domain.detection.watermarks import SourceClocks


def test_unreported_expected_source_holds_the_watermark() -> None:
    clocks = SourceClocks(["a:0", "a:1"])
    clocks.update("a:0", 100)
    assert clocks.clock_us() is None
    clocks.update("a:1", 50)
    assert clocks.clock_us() == 50


def test_slowest_source_wins_and_clocks_never_go_back() -> None:
    clocks = SourceClocks(["a:0", "a:1"])
    clocks.update("a:0", 100)
    clocks.update("a:1", 70)
    clocks.update("a:1", 60)  # a new owner re-reads from the last commit
    assert clocks.clock_us() == 70


def test_a_source_seen_only_in_markers_counts_too() -> None:
    clocks = SourceClocks(["a:0"])
    clocks.update("a:0", 100)
    clocks.update("b:0", 40)
    assert clocks.clock_us() == 40


def test_dump_and_load_round_trip() -> None:
    clocks = SourceClocks(["a:0", "a:1"])
    clocks.update("a:0", 5)
    restored = SourceClocks(["a:1"])
    restored.load(clocks.dump())
    assert restored.dump() == {"a:0": 5, "a:1": -(2**62)}
    assert restored.clock_us() is None
