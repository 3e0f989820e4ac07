"""Every registry entry, loaded from the Hub path with a fixture in the source's own schema.

Only the network call (`datasets.load_dataset`) is replaced: it checks that the registry
asks for the right repository, config, split and revision, and returns a small dataset
with the source's columns, feature types and label values. Everything after it is the
real loading code.
"""

import json

import datasets
import huggingface_hub
import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from study.config import DataConfig
from study.data import CANONICAL_COLUMNS, DataError, load_split
from study.registry import TASKS, _spec

NLI = ClassLabel(names=["entailment", "neutral", "contradiction"])
QA_FEATURES = Features({"id": Value("string"), "title": Value("string"), "context": Value("string"),
                        "question": Value("string"),
                        "answers": Sequence({"text": Value("string"), "answer_start": Value("int32")})})


def _nli_rows(n=3, **extra):
    return [{"premise": f"premise {i}", "hypothesis": f"hypothesis {i}", "label": i % 3,
             **{k: v(i) for k, v in extra.items()}} for i in range(n)]


def _qa(qid, context, answer, title="t"):
    return {"id": qid, "title": title, "context": context, "question": f"what in {qid}?",
            "answers": {"text": [answer], "answer_start": [context.index(answer)]}}


COPA_ROWS = [{"premise": "The man turned on the faucet.", "choice1": "The toilet filled.",
              "choice2": "Water flowed.", "question": "effect", "idx": 0, "label": 1},
             {"premise": "The girl found a bug.", "choice1": "She poured milk.",
              "choice2": "She lost her appetite.", "question": "effect", "idx": 1, "label": 1}]

# task -> (lang, split, the Hub split asked for, rows in the source's schema, features or None)
FIXTURES = {
    "xnli": ("de", "test", "test", _nli_rows(), Features(
        {"premise": Value("string"), "hypothesis": Value("string"), "label": NLI})),
    "xnli_mt": ("sw", "train", "train", _nli_rows(), None),
    "americas_nli": ("quy", "test", "test", _nli_rows(language=lambda i: "quy"), None),
    "mnli": ("en", "dev", "validation_matched",
             _nli_rows(promptID=lambda i: i, pairID=lambda i: f"{i}e", genre=lambda i: "fiction"), None),
    "klue_nli": ("ko", "train", "train", _nli_rows(guid=lambda i: f"klue-nli-v1_train_{i}",
                                                    source=lambda i: "NSMC"), None),
    "ocnli": ("zh", "train", "train",
              [{"sentence1": "他在睡觉。", "sentence2": "他醒着。", "label": 2, "idx": 0},
               {"sentence1": "她在吃饭。", "sentence2": "她在吃东西。", "label": 1, "idx": 1},
               {"sentence1": "她在吃饭。", "sentence2": "她很饿。", "label": 0, "idx": 2}],
              Features({"sentence1": Value("string"), "sentence2": Value("string"),
                        "label": ClassLabel(names=["neutral", "entailment", "contradiction"]),
                        "idx": Value("int32")})),
    "anli": ("en", "train", "train_r1+train_r2+train_r3",
             _nli_rows(uid=lambda i: f"uid{i}", reason=lambda i: ""), None),
    "indonli": ("id", "train", "train", _nli_rows(), None),
    "jnli": ("ja", "train", "train",
             [{"sentence_pair_id": str(i), "yjcaptions_id": f"{i}-{i}", "sentence1": f"文{i}",
               "sentence2": f"別の文{i}", "label": i} for i in range(3)],
             Features({"sentence_pair_id": Value("string"), "yjcaptions_id": Value("string"),
                       "sentence1": Value("string"), "sentence2": Value("string"),
                       "label": ClassLabel(names=["entailment", "contradiction", "neutral"])})),
    "farstail": ("fa", "train", "train",
                 [{"premise": "ویژگی های هنر عصر اموی", "hypothesis": f"فرضیه {i}", "label": x}
                  for i, x in enumerate("ecn")], None),
    "teca": ("ca", "dev", "validation", [dict(r, id=3247 + i) for i, r in enumerate(_nli_rows())], None),
    "cdsc_e": ("pl", "train", "train",
               [{"pair_ID": i, "sentence_A": f"Zdanie {i} .", "sentence_B": f"Inne zdanie {i} .",
                 "entailment_judgment": i} for i in range(3)],
               Features({"pair_ID": Value("int32"), "sentence_A": Value("string"),
                         "sentence_B": Value("string"), "entailment_judgment": ClassLabel(
                             names=["NEUTRAL", "CONTRADICTION", "ENTAILMENT"])})),
    "si_nli": ("sl", "train", "train",
               [{"pair_id": f"P{i}", "premise": f"Premisa {i}.", "hypothesis": f"Hipoteza {i}.",
                 "label": x} for i, x in enumerate(["entailment", "contradiction", "neutral"])], None),
    "paws_x": ("ja", "train", "train",
               [{"id": i + 1, "sentence1": f"文{i}", "sentence2": f"文{i}。", "label": i % 2}
                for i in range(4)], None),
    "xcopa": ("et", "test", "test", [{**r, "changed": False} for r in COPA_ROWS], None),
    "copa": ("en", "train", "train", COPA_ROWS, None),
    "siqa": ("en", "train", "train",
             [{"context": "Tracy lost her keys.", "question": "What will Tracy do next?",
               "answerA": "sing", "answerB": "dance", "answerC": "look for them", "label": "3"},
              {"context": "Sasha won.", "question": "How does Sasha feel?", "answerA": "happy",
               "answerB": "sad", "answerC": "bored", "label": "1"}], None),
    "hellaswag": ("en", "train", "train",
                  [{"ind": 4, "activity_label": "Removing ice", "ctx_a": "A man is in a car.",
                    "ctx_b": "he", "ctx": "A man is in a car. he",
                    "endings": ["sleeps.", "scrapes the ice.", "sings.", "flies away."],
                    "source_id": "v_1", "split": "train", "split_type": "indomain", "label": "1"}],
                  None),
    "squad": ("en", "train", "train",
              [_qa("5733be", "Architecturally, the school has a Catholic character.", "Catholic"),
               _qa("5733bf", "Atop the Main Building's gold dome is a statue.", "gold dome")],
              QA_FEATURES),
    "tydiqa": ("sw", "train", "train",
               [_qa("english-101-1", "The cat sat on the mat.", "the mat"),
                _qa("swahili-202-1", "Dar es Salaam ni mji mkubwa.", "Dar es Salaam"),
                _qa("swahili-203-1", "Mlima Kilimanjaro uko Tanzania.", "Tanzania"),
                _qa("russian-301-1", "Москва — столица России.", "Москва")], QA_FEATURES),
}

EXPECTED_LABELS = {  # canonical label names (pairs) or right-choice indices, in row order
    "xnli": ["entailment", "neutral", "contradiction"],
    "ocnli": ["contradiction", "entailment", "neutral"],  # CLUE: neutral, entailment, contradiction
    "jnli": ["entailment", "contradiction", "neutral"],  # JGLUE: entailment, contradiction, neutral
    "paws_x": ["different", "paraphrase", "different", "paraphrase"],
    "farstail": ["entailment", "contradiction", "neutral"],  # e, c, n
    "cdsc_e": ["neutral", "contradiction", "entailment"],  # KLEJ: NEUTRAL, CONTRADICTION, ENTAILMENT
    "si_nli": ["entailment", "contradiction", "neutral"],  # strings
    "xcopa": [1, 1], "copa": [1, 1],
    "siqa": [2, 0],  # strings "1".."3"
    "hellaswag": [1],  # strings "0".."3"
}


@pytest.fixture
def hub(monkeypatch):
    """Replace the network call: check what the registry asks for, return the fixture."""
    calls = []

    def fake_load_dataset(path, name=None, split=None, revision=None, data_files=None, **kw):
        task = next(t for t in TASKS.values() if t.hub_id == path and t.name == hub.task)
        lang, _split, hub_split, rows, features = FIXTURES[task.name]
        calls.append({"path": path, "name": name, "split": split, "revision": revision})
        assert (split, revision) == (hub_split, task.revision)
        if task.data_files:  # named files: every split asked for by its files, no config
            assert name is None and set(data_files) == set(hub_split.split("+"))
            assert data_files == {s: task.data_files[s][0] for s in data_files}  # the layout listed
        else:
            assert name == task.hub_config(lang) and data_files is None
        assert kw == task.reader  # the file reader's options (FarsTail: tab-separated)
        return Dataset.from_list(rows, features=features)

    def fake_list_repo_files(repo_id, repo_type=None, revision=None):  # the repository's files
        task = TASKS[hub.task]
        assert (repo_id, repo_type, revision) == (task.hub_id, "dataset", task.revision)
        return ["README.md", *(p[0].replace("*", "0000") for p in task.data_files.values())]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(huggingface_hub, "list_repo_files", fake_list_repo_files)
    hub.calls = calls
    return hub


def _data(**kw):
    return DataConfig(targets={"xnli": {"train": "mnli"}}, phase2_en="mnli", phase2_pool=["klue_nli"],
                      **kw)


def test_every_registry_entry_has_a_fixture():
    local_only = {"demo_nli", "demo_choice", "demo_social", "demo_americas"}  # generated; see test_demo_data
    assert set(FIXTURES) | local_only == set(TASKS)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_hub_fixture_maps_to_canonical_columns(hub, name):
    task = TASKS[name]
    lang, split, _hub_split, rows, _features = FIXTURES[name]
    hub.task = name
    ds = load_split(name, lang, split, _data())
    assert hub.calls and hub.calls[0]["path"] == task.hub_id
    assert tuple(ds.column_names) == CANONICAL_COLUMNS[task.head]
    assert set(ds["lang"]) == {lang}
    if task.head == "pair_classification":
        names = [task.label_set[x] for x in ds["label"]]
        expected = EXPECTED_LABELS.get(name, ["entailment", "neutral", "contradiction"])
        assert names == expected
        assert ds["premise"][0] == rows[0][task.fields["premise"]]
        assert ds["hypothesis"][1] == rows[1][task.fields["hypothesis"]]
    elif task.head == "multiple_choice":
        assert list(ds["label"]) == EXPECTED_LABELS[name]
        chosen = [choices[label] for choices, label in zip(ds["choices"], ds["label"], strict=True)]
        assert chosen[0] in {"Water flowed.", "look for them", "scrapes the ice."}
        assert ds["premise"][0] == rows[0][task.fields["premise"]]
    else:
        kept = [r for r in rows if r["id"].startswith(task.id_prefix.get(lang, ""))]
        assert list(ds["id"]) == [r["id"] for r in kept]
        for row in ds:
            start, text = row["answers"]["answer_start"][0], row["answers"]["text"][0]
            assert row["context"][start:start + len(text)] == text


def test_parquet_export_splits_are_read_by_their_own_files(tmp_path):
    """The real datasets call on a parquet-export layout: test_lay and test_expert stay apart."""
    from dataclasses import replace

    for i, split in enumerate(["train", "validation", "test_lay", "test_expert"]):
        folder = tmp_path / "indonli" / split
        folder.mkdir(parents=True)
        Dataset.from_list(_nli_rows(2 + i, premise=lambda j, s=split: f"{s} {j}")).to_parquet(
            folder / "0000.parquet")
    local = replace(TASKS["indonli"], hub_id=str(tmp_path), revision=None)
    ds = load_split(local, "id", "test", _data())
    assert len(ds) == 4 and set(ds["premise"]) == {f"test_lay {j}" for j in range(4)}
    assert list(ds["label"]) == [0, 1, 2, 0]


def test_anli_local_files_are_its_three_rounds_in_order(tmp_path):
    for r in (1, 2, 3):
        path = tmp_path / "anli" / "en" / f"train_r{r}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"uid": f"r{r}", "premise": f"p{r}", "hypothesis": "h",
                                    "label": r - 1, "reason": ""}) + "\n")
    ds = load_split("anli", "en", "train", _data(source="local", local_dir=tmp_path))
    assert list(ds["premise"]) == ["p1", "p2", "p3"] and list(ds["label"]) == [0, 1, 2]
    (tmp_path / "anli" / "en" / "train_r2.jsonl").unlink()
    with pytest.raises(DataError, match=r"anli/en/train_r2\.jsonl: no such file.*train = "
                                        r"\['train_r1', 'train_r2', 'train_r3'\]"):
        load_split("anli", "en", "train", _data(source="local", local_dir=tmp_path))


def test_string_label_outside_its_values_is_named(hub, monkeypatch):
    hub.task = "hellaswag"
    row = {**FIXTURES["hellaswag"][3][0], "label": ""}  # HellaSwag's test split has no labels
    monkeypatch.setitem(FIXTURES, "hellaswag", (*FIXTURES["hellaswag"][:3], [row], None))
    with pytest.raises(DataError, match=r"Rowan/hellaswag.*column 'label' has label value\(s\) \[''\]; "
                                        r"accepted \['0', '1', '2', '3'\]"):
        load_split("hellaswag", "en", "train", _data())


def test_qa_split_without_an_answer_in_its_contexts_is_named(hub, monkeypatch):
    hub.task = "squad"
    rows = [{**r, "answers": {"text": ["not there"], "answer_start": [3]}} for r in FIXTURES["squad"][3]]
    monkeypatch.setitem(FIXTURES, "squad", (*FIXTURES["squad"][:3], rows, QA_FEATURES))
    with pytest.raises(DataError, match=r"rajpurkar/squad.*none of its 2 row\(s\) has answers found in its "
                                        r"context \(column 'answers'\)"):
        load_split("squad", "en", "train", _data())


def test_a_hub_classlabel_in_another_order_than_the_registrys_fails(hub, monkeypatch):
    """A KLUE copy built with its old loading script names the labels entailment,
    contradiction, neutral: read with the registry's mapping, neutral and contradiction would
    swap. The source's ClassLabel names are checked against the registry's label_names."""
    hub.task = "klue_nli"
    swapped = Features({"premise": Value("string"), "hypothesis": Value("string"),
                        "label": ClassLabel(names=["entailment", "contradiction", "neutral"]),
                        "guid": Value("string"), "source": Value("string")})
    lang, split, hub_split, rows, _ = FIXTURES["klue_nli"]
    monkeypatch.setitem(FIXTURES, "klue_nli", (lang, split, hub_split, rows, swapped))
    with pytest.raises(DataError, match=r"klue/klue.*names its labels \['entailment', 'contradiction', "
                                        r"'neutral'\].*registry maps them as \['entailment', 'neutral', "
                                        r"'contradiction'\] \(study/tasks.yaml, klue_nli.label_names\)"):
        load_split("klue_nli", "ko", "train", _data())
    # the order the registry gives loads; so do names that say nothing (PAWS-X's "0", "1")
    same = Features({**swapped, "label": ClassLabel(names=["entailment", "neutral", "contradiction"])})
    monkeypatch.setitem(FIXTURES, "klue_nli", (lang, split, hub_split, rows, same))
    assert list(load_split("klue_nli", "ko", "train", _data())["label"]) == [0, 1, 2]
    hub.task = "paws_x"
    lang, split, hub_split, rows, _ = FIXTURES["paws_x"]
    digits = Features({"id": Value("int32"), "sentence1": Value("string"), "sentence2": Value("string"),
                       "label": ClassLabel(names=["0", "1"])})
    monkeypatch.setitem(FIXTURES, "paws_x", (lang, split, hub_split, rows, digits))
    assert list(load_split("paws_x", "ja", "train", _data())["label"]) == [0, 1, 0, 1]


def _stripped(qid, context, answer):
    """A TyDiQA-GoldP row as the Hub's loading script made it (huggingface/datasets'
    tydiqa.py, secondary_task: `context = paragraph["context"].strip()`, while the
    answer_start values are taken from the answers as they are): the offset counted in the
    unstripped passage, k characters too far where k whitespace characters led it."""
    return {"id": qid, "title": "t", "context": context.strip(), "question": f"what in {qid}?",
            "answers": {"text": [answer], "answer_start": [context.index(answer)]}}


def test_tydiqa_answers_the_hub_misaligned_are_realigned_and_the_rest_dropped_and_counted(hub, monkeypatch):
    from study import data

    hub.task = "tydiqa"
    rows = [_qa("swahili-1-1", "Dar es Salaam ni mji mkubwa.", "Dar es Salaam"),  # aligned
            _stripped("swahili-2-1", "\n  Mlima Kilimanjaro uko Tanzania. Tanzania ni nchi.", "Tanzania"),
            _stripped("swahili-3-1", "   Nairobi ni mji mkuu wa Kenya.", "Kenya"),
            {**_qa("swahili-4-1", "Ziwa Victoria ni kubwa.", "Victoria"),  # an answer it does not hold
             "answers": {"text": ["Tanganyika"], "answer_start": [5]}},
            _qa("english-5-1", "The cat sat on the mat.", "the mat")]
    monkeypatch.setitem(FIXTURES, "tydiqa", ("sw", "train", "train", rows, QA_FEATURES))
    monkeypatch.setattr(data, "REPAIRED", {})
    ds = load_split("tydiqa", "sw", "train", _data())
    assert list(ds["id"]) == ["swahili-1-1", "swahili-2-1", "swahili-3-1"]
    for row in ds:
        start, text = row["answers"]["answer_start"][0], row["answers"]["text"][0]
        assert row["context"][start:start + len(text)] == text, row["id"]
    # the nearest occurrence to the given offset: the first "Tanzania", not the second
    assert ds[1]["answers"]["answer_start"] == [ds[1]["context"].index("Tanzania")]
    assert data.repairs() == {"tydiqa/sw/train": {"rows": 4, "realigned": 2, "dropped": 1}}
    assert data.repairs(["squad"]) == {}
    # the data card (the data-selection notebook's) says so for the task
    from study import datacard
    from study.config import load_config

    card = datacard.task_card(load_config("params/full.yaml", {"data.phase2_pool": ["tydiqa", "klue_nli"]}))
    assert card.loc["tydiqa", "rows repaired"] == "sw train: 2 realigned, 1 dropped of 4"
    assert card.loc["klue_nli", "rows repaired"] == "-"


def test_a_parquet_layout_is_resolved_from_the_repositorys_files(tmp_path, monkeypatch):
    """The real datasets call on a repository in the parquet converter's folder layout
    (JNLI/train/0000.parquet), the registry's second candidate after the export's files that
    stored code shows (JNLI/jglue-train.parquet): the candidates are matched against the
    repository's files (huggingface_hub.list_repo_files, the network call replaced) and the
    one found is loaded; none found is an error that lists the files; offline, each layout
    is tried in order."""
    from dataclasses import replace

    (tmp_path / "JNLI" / "train").mkdir(parents=True)
    rows = [{"sentence_pair_id": str(i), "yjcaptions_id": f"{i}", "sentence1": f"文{i}",
             "sentence2": f"別{i}", "label": i} for i in range(3)]
    Dataset.from_list(rows).to_parquet(tmp_path / "JNLI" / "train" / "0000.parquet")
    local = replace(TASKS["jnli"], hub_id=str(tmp_path), revision=None)
    listed = {"files": ["README.md", "JNLI/train/0000.parquet", "JNLI/validation/0000.parquet"]}
    monkeypatch.setattr(huggingface_hub, "list_repo_files",
                        lambda repo_id, repo_type=None, revision=None: listed["files"])
    ds = load_split(local, "ja", "train", _data())
    assert list(ds["premise"]) == ["文0", "文1", "文2"] and list(ds["label"]) == [0, 2, 1]
    listed["files"] = ["README.md", "JNLI/train.jsonl"]
    with pytest.raises(DataError, match=r"none of the registry's layouts \(study/tasks.yaml, "
                                        r"jnli.data_files\) matches its files; tried "
                                        r"\[\['JNLI/jglue-train.parquet'\], \['JNLI/train/\*.parquet'\]\]; "
                                        r"its data files \(1\): "
                                        r"\['JNLI/train.jsonl'\]"):
        load_split(local, "ja", "train", _data())

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.OfflineModeIsEnabled("offline")

    monkeypatch.setattr(huggingface_hub, "list_repo_files", offline)
    assert len(load_split(local, "ja", "train", _data())) == 3  # the second layout, after the first fails


def test_tydiqa_language_without_rows_is_named(hub):
    hub.task = "tydiqa"
    with pytest.raises(DataError, match=r"no row of language 'te' \(column 'id' starting with "
                                        r"'telugu-'\) among 4 rows"):
        load_split("tydiqa", "te", "train", _data())


def test_phase2_takes_every_head_but_a_target_trains_on_its_own_head_and_labels():
    from study.config import ConfigError, load_config
    cfg = load_config("params/full.yaml", {"data.phase2_en": ["squad", "paws_x", "hellaswag"]})
    assert cfg.data.phase2_en == ("squad", "paws_x", "hellaswag")
    with pytest.raises(ConfigError, match=r"target 'xnli' \(pair_classification\) cannot be trained on "
                                          r"'paws_x'.*head and labels must match"):
        load_config("params/full.yaml", {"data.targets.xnli.train": "paws_x"})
    with pytest.raises(ConfigError, match=r"target 'xcopa' .* cannot be trained on 'mnli'"):
        load_config("params/full.yaml", {"data.targets.xcopa.train": "mnli",
                                         "data.targets.xcopa.train_before": []})
    with pytest.raises(ConfigError, match=r"task 'squad' \(head 'extractive_qa'.*cannot be a target"):
        load_config("params/full.yaml", {"data.targets": {"squad": {"train": "squad"}}})
    with pytest.raises(ConfigError, match=r"also_evaluate 'xcopa' has another head"):
        load_config("params/full.yaml", {"data.targets.xnli.also_evaluate": ["xcopa"]})


@pytest.mark.parametrize(("change", "message"), [
    ({"head": "span"}, r"head 'span'; accepted"),
    ({"family": "qa2"}, r"family 'qa2'; accepted"),
    ({"label_names": ["yes", "no"]}, r"label_names must be names of one canonical label set"),
    ({"label_values": ["a"]}, r"label_values \['a'\] and label_names .* same length"),
    ({"fields": {"premise": "p", "label": "l"}},
     r"head pair_classification needs fields .*missing \['hypothesis'\]"),
    ({"colour": "red"}, r"unknown key\(s\) \['colour'\]"),
])
def test_registry_mistakes_name_the_task_and_key(change, message):
    entry = {"hub_id": "x/y", "config": None, "revision": None, "splits": {"train": "train"},
             "fields": {"premise": "p", "hypothesis": "h", "label": "l"},
             "label_names": ["entailment", "neutral", "contradiction"],
             "head": "pair_classification", "family": "nli", "xtreme_name": None,
             "languages": ["en"], "license": "x", "origin": "native", "checked": False}
    with pytest.raises(ValueError, match=r"study/tasks.yaml: task 'broken': " + message):
        _spec("broken", {**entry, **change})


def test_pin_revisions_rewrites_only_revision_lines(tmp_path):
    from types import SimpleNamespace

    from study.registry import pin_revisions

    text = ("# header\nsquad:\n  # comment\n  hub_id: rajpurkar/squad\n  revision: null\n  head: x\n"
            "siqa:\n  hub_id: allenai/social_i_qa\n  revision: refs/convert/parquet\n"
            "demo:\n  hub_id: null\n  revision: null\n"
            f"done:\n  hub_id: a/b\n  revision: {'c' * 40}\n")
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    asked = []

    class Api:
        def dataset_info(self, repo_id, revision=None):
            asked.append((repo_id, revision))
            return SimpleNamespace(sha=("a" if revision is None else "b") * 40)

    assert pin_revisions(path, Api()) == {"squad": "a" * 40, "siqa": "b" * 40}
    assert asked == [("rajpurkar/squad", None), ("allenai/social_i_qa", "refs/convert/parquet")]
    out = path.read_text()
    assert out == text.replace("  revision: null\n  head", f"  revision: {'a' * 40}\n  head").replace(
        "revision: refs/convert/parquet", f"revision: {'b' * 40}  # was refs/convert/parquet")


# -- the wider NLI pool, read by the real datasets call from files in each source's own layout
# (the repository replaced by a folder; rows from each source's files or card where stored)
FARSTAIL_PREMISE = ("ویژگی های هنر عصر اموی: ۱- تلفیقی بودن ۲- بازنمایی نوعی تفنن و تفریح ۳- نقاشی های "
                    "تزئینی و تندیس های بی کیفیت")
FARSTAIL_TRAIN = (  # dml-qom/FarsTail data/Train-word.csv: the header and rows 1, 5, 6 and 3749
    "premise\thypothesis\tlabel\n"
    + FARSTAIL_PREMISE +     "\tنقاشی های تزئینی و تندیس های بی‌کیفیت، یکی از ویژگی های هنر عصر اموی است.\te\n"
    + FARSTAIL_PREMISE +     "\tبا کیفیت بودن تندیس های دوره اموی، یکی از ویژگی های هنر این دوره است.\tc\n"
    + FARSTAIL_PREMISE +     "\tدوره امویان عصری است که در آن سنت های هنری تمدن اسلامی پایه گذاری شد.\tn\n"
    '"از لحاظ عملیاتی میتوان آن را به سه بخش تقسیم کرد : •\tاز تمر چین تا دالامپرداغ ( نقطه مرز مشترک ایران، '
    'عراق و ترکیه) . •\tاز دالامپرداغ تا دره قطور •\tاز دره قطور تا دیم قشلاق"'
    "\tمرز مشترک بین ایران و عراق و ترکیه، از تمر چین تا دالامپرداغ است.\te\n")
FARSTAIL_TEST = (  # its Test-word.csv adds two flags of the hard subsets
    "premise\thypothesis\tlabel\thard(hypothesis)\thard(overlap)\n"
    "با شهادت امام رضا(ع) مرحله جدیدی از تلاش ائمه آغاز شد که «دوران محنت اهل بیت» نام دارد."
    "\tحضرت جواد(ع) در سال ۱۹۵ هجری در مدینه ولادت یافت.\tn\t1\t0\n")


def _from_folder(name, folder):
    from dataclasses import replace

    return replace(TASKS[name], hub_id=str(folder), revision=None)


def test_farstail_tab_separated_files_with_quoted_tabs(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "Train-word.csv").write_text(FARSTAIL_TRAIN, encoding="utf-8")
    (tmp_path / "data" / "Test-word.csv").write_text(FARSTAIL_TEST, encoding="utf-8")
    task = _from_folder("farstail", tmp_path)
    train = load_split(task, "fa", "train", _data())
    assert [task.label_set[x] for x in train["label"]] == ["entailment", "contradiction", "neutral",
                                                             "entailment"]
    assert train["premise"][3].count("\t") == 3 and train["hypothesis"][3].endswith("است.")
    test = load_split(task, "fa", "test", _data())  # the extra columns are dropped
    assert tuple(test.column_names) == CANONICAL_COLUMNS["pair_classification"]
    assert list(test["label"]) == [1] and set(test["lang"]) == {"fa"}


def test_cdsc_e_parquet_export_labels_in_klej_order(tmp_path):
    rows = [  # KLEJ's CDSC-E (allegro/klej-cdsc-e viewer), pairs 1, 5 and 10
        {"pair_ID": 1,
         "sentence_A": "Chłopiec w czerwonych trampkach skacze wysoko do góry nieopodal fontanny .",
         "sentence_B": "Chłopiec w bluzce w paski podskakuje wysoko obok brązowej fontanny .",
         "entailment_judgment": 0},
        {"pair_ID": 5, "sentence_A": "Pies przebiega po trawie obok stada brązowych krów .",
         "sentence_B": "Pies biegnie po trawie , a dalej stoją brązowe krowy .", "entailment_judgment": 2},
        {"pair_ID": 10, "sentence_A": "Żaden mężczyzna nie stoi na przystanku autobusowym .",
         "sentence_B": "Mężczyzna z żółtą i białą reklamówką w ręce stoi na przystanku obok autobusu .",
         "entailment_judgment": 1}]
    features = FIXTURES["cdsc_e"][4]
    for split in ("train", "validation", "test"):
        (tmp_path / "cdsc-e" / split).mkdir(parents=True)
        part = rows if split != "test" else [{**r, "entailment_judgment": -1} for r in rows]
        Dataset.from_list(part, features=features).to_parquet(tmp_path / "cdsc-e" / split / "0000.parquet")
    task = _from_folder("cdsc_e", tmp_path)
    ds = load_split(task, "pl", "train", _data())
    assert [task.label_set[x] for x in ds["label"]] == ["neutral", "entailment", "contradiction"]
    assert ds["premise"][2].startswith("Żaden") and len(load_split(task, "pl", "dev", _data())) == 3
    assert "test" not in task.splits  # its labels are withheld (-1)


def test_si_nli_parquet_export_string_labels(tmp_path):
    card = {  # the SI-NLI card's example row
        "pair_id": "P0",
        "premise": "Vendar se je anglikanska večina v grofijah na severu otoka (Ulster) na plebiscitu "
                   "odločila, da ostane v okviru Velike Britanije.",
        "hypothesis": "A na glasovanju o priključitvi ozemlja k Severni Irski so se prebivalci ulsterskih "
                      "grofij, pretežno anglikanske veroizpovedi, izrekli o obstanku pod okriljem VB.",
        "annotation1": "entailment", "annotator1_id": "annotator_C", "annotation2": "entailment",
        "annotator2_id": "annotator_A", "annotation3": "", "annotator3_id": "",
        "annotation_final": "entailment", "label": "entailment"}
    rows = [card, {**card, "pair_id": "P1", "label": "neutral"},
            {**card, "pair_id": "P2", "label": "contradiction"}]
    for split, part in (("train", rows), ("validation", rows[:2])):
        (tmp_path / "public" / split).mkdir(parents=True)
        Dataset.from_list(part).to_parquet(tmp_path / "public" / split / "0000.parquet")
    task = _from_folder("si_nli", tmp_path)
    ds = load_split(task, "sl", "train", _data())
    assert [task.label_set[x] for x in ds["label"]] == ["entailment", "neutral", "contradiction"]
    assert ds["premise"][0] == card["premise"]
    # the public test split has no labels (""): it is not a split of the registry, and a row
    # without one elsewhere is named
    assert "test" not in task.splits
    Dataset.from_list([{**card, "label": ""}]).to_parquet(tmp_path / "public" / "validation" / "0000.parquet")
    with pytest.raises(DataError, match=r"column 'label' has label value\(s\) \[''\]; accepted "
                                        r"\['entailment', 'neutral', 'contradiction'\]"):
        load_split(task, "sl", "dev", _data())


def test_teca_parquet_default_config_splits_by_file_name(tmp_path):
    rows = [  # the TE-ca card's example: one premise, a hypothesis per label
        {"id": 3247, "premise": "L'ONU adopta a Marràqueix un pacte no vinculant per les migracions",
         "hypothesis": "S'acorden unes recomanacions per les persones migrades a Marràqueix", "label": 0},
        {"id": 2825, "premise": "L'ONU adopta a Marràqueix un pacte no vinculant per les migracions",
         "hypothesis": "Les persones migrades seran acollides a Marràqueix", "label": 1},
        {"id": 2431, "premise": "L'ONU adopta a Marràqueix un pacte no vinculant per les migracions",
         "hypothesis": "L'acord impulsat per l'ONU lluny de tancar-se", "label": 2}]
    (tmp_path / "data").mkdir()
    for i, split in enumerate(("train", "validation", "test")):  # push_to_hub's file names
        Dataset.from_list(rows[i:] or rows).to_parquet(tmp_path / "data" / f"{split}-00000-of-00001.parquet")
    task = _from_folder("teca", tmp_path)
    assert [task.label_set[x] for x in load_split(task, "ca", "train", _data())["label"]] == [
        "entailment", "neutral", "contradiction"]
    assert list(load_split(task, "ca", "dev", _data())["label"]) == [1, 2]
    assert list(load_split(task, "ca", "test", _data())["label"]) == [2]
