"""Annotation: the human review round for generated candidates.

Export the candidates for annotators, read their annotations back, accept labels by majority
vote and measure how much the annotators agree. One module per role: :mod:`.votes`,
:mod:`.label_studio`, :mod:`.spreadsheet`, :mod:`.agreement` and :mod:`.review`.

* **Export**: :func:`export_label_studio` writes a Label Studio import file (one task per text,
  the proposed labels as a prediction) and :func:`label_studio_config` the labeling interface
  (a multiple-choice ``Choices`` tag over the 28 labels); :func:`export_csv` writes a
  spreadsheet with one 0/1 column per label and an ``accept`` shortcut column.
* **Import**: :func:`import_label_studio` reads Label Studio JSON exports,
  :func:`import_csv` filled CSVs (one per annotator), :func:`load_votes` either by suffix. All
  give the same long *vote table*: a :class:`pandas.DataFrame` with one row per ``(id,
  annotator, label)`` and columns ``id``, ``annotator``, ``label`` (a name of
  the candidates' label schema, GoEmotions' by default), ``vote`` (0/1) and ``file`` (where it
  was read). Every annotation gives one row per label of the schema, so an annotator who chose
  nothing still counts as a voter.
* **Decision**: :func:`majority_vote` accepts a label for a text when strictly more than
  ``threshold`` (default half) of that text's annotators chose it, so ties reject.
  :func:`apply_review` keeps a candidate only when its accepted labels include every intended
  label (``meta["intended"]``, else its proposed labels), and **replaces its labels by the
  accepted ones** (annotators may add a co-occurring emotion or drop a wrong extra one);
  ``relabel=False`` keeps the proposed labels instead.
* **Agreement**: Fleiss' kappa (Fleiss 1971), per label (two categories: chosen or not) and
  overall (the same binary kappa pooled over every ``(text, label)`` pair of the labels that
  someone chose). Fleiss' kappa needs the same number of raters per subject: when texts have
  different numbers of annotators, only the texts with the modal number (the larger on a tie)
  are used, and the report says how many.
"""

from .agreement import fleiss_kappa, fleiss_kappa_table
from .label_studio import export_label_studio, import_label_studio, label_studio_config
from .review import apply_review, format_report, load_votes
from .spreadsheet import export_csv, import_csv
from .votes import VOTE_COLUMNS, majority_vote

__all__ = [
    "VOTE_COLUMNS",
    "apply_review",
    "export_csv",
    "export_label_studio",
    "fleiss_kappa",
    "fleiss_kappa_table",
    "format_report",
    "import_csv",
    "import_label_studio",
    "label_studio_config",
    "load_votes",
    "majority_vote",
]
