"""Tests of jobtag.features.pos_eval: CoNLL-U reading and the accuracy goal on UD English-EWT."""

from __future__ import annotations

import pytest

from jobtag.errors import InputError
from jobtag.features.pos import get_tagger
from jobtag.features.pos_eval import pos_accuracy, read_conllu

CONLLU = """# sent_id = 1
# text = We hire.
1\tWe\twe\tPRON\tPRP\t_\t2\tnsubj\t_\t_
2\thire\thire\tVERB\tVBP\t_\t0\troot\t_\tSpaceAfter=No
3\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_

1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\twait\twait\tVERB\tVB\t_\t0\troot\t_\t_
"""


def test_read_conllu_skips_multiword_lines(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    sents = read_conllu(path)
    assert [s.words for s in sents] == [("We", "hire", "."), ("do", "n't", "wait")]
    assert sents[1].xpos == ("VBP", "RB", "VB")
    acc = pos_accuracy(get_tagger("fast"), sents)
    assert acc.tokens == 6 and 0 <= acc.accuracy <= 1


def test_bad_conllu_names_file_and_line(tmp_path):
    path = tmp_path / "bad.conllu"
    path.write_text("1\tWe\twe\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.conllu:1: expected 10"):
        read_conllu(path)


def test_fast_tagger_accuracy_on_ewt(shared_data):
    sents = read_conllu(shared_data / "ud-english-ewt" / "en_ewt-ud-test.conllu.gz")
    acc = pos_accuracy(get_tagger("fast"), sents)
    assert acc.tokens > 20_000
    assert acc.accuracy >= 0.93
