"""Every exception squeezebert_np raises on purpose, in one place.

Bad input is a ValueError (or an OSError for files and the network) of one of these types, with a message that
names the problem and, where there is one, the allowed range. Callers can catch `SqueezeBertError` for all of them.
"""


class SqueezeBertError(Exception):
    """Base class of every error this package raises on purpose."""


# ---- values: config, model inputs, tokenizer input ----

class ConfigError(SqueezeBertError, ValueError):
    """A config field has an invalid value (the message names the field)."""


class InvalidInputError(SqueezeBertError, ValueError):
    """A model input is malformed: wrong shape, dtype or range (the message says which and the allowed range)."""


class TokenizerError(SqueezeBertError, ValueError):
    """Tokenizer input or options are invalid, or a vocabulary file is unusable."""


# ---- files: checkpoints ----

class CheckpointError(SqueezeBertError, ValueError):
    """A checkpoint file or directory is missing, truncated, corrupt, or does not fit the config."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle asked for a global that is not on the allowlist; nothing from the file was executed."""


# ---- the hub (these are OSErrors, as in huggingface_hub / transformers) ----

class HubError(SqueezeBertError, OSError):
    """Downloading from the hub failed."""


class HubArgumentError(HubError, ValueError):
    """A filename or revision that would leave the cache folder, or a malformed setting (HF_ENDPOINT, a timeout)."""


class RepositoryNotFoundError(HubError):
    """The repository does not exist, is private, or the token is wrong."""


class GatedRepoError(RepositoryNotFoundError):
    """The repository is gated: accept its conditions on the hub and pass a token."""


class RevisionNotFoundError(HubError):
    """The branch, tag, commit or refs/pr/N does not exist in the repository."""


class EntryNotFoundError(HubError):
    """The file does not exist at that revision of the repository."""


class LocalEntryNotFoundError(EntryNotFoundError, FileNotFoundError):
    """Offline (or the network failed) and the file is not in the local cache."""


# ---- training ----

class TrainingError(SqueezeBertError, ValueError):
    """An optimizer, schedule or training setting is invalid, or a gradient does not fit its parameter."""


class DatasetError(SqueezeBertError, ValueError):
    """A training or evaluation file is unusable: the message names the file and line (missing column, a label
    unseen in training, empty file, text that is not UTF-8)."""


# ---- the course (notebooks/) ----

class CourseError(SqueezeBertError, OSError):
    """The notebooks' files cannot be found: the package was not imported from a checkout of the repository."""


class ExerciseError(SqueezeBertError, ValueError):
    """`exercises.check` was asked for an exercise that does not exist (the message lists those that do)."""


# ---- calls ----

class UnexpectedArgumentError(SqueezeBertError, TypeError):
    """A keyword argument the function does not take (a TypeError, as Python and transformers raise it)."""


# ---- checkpoint files ----

class CheckpointFileError(CheckpointError, OSError):
    """A checkpoint path is missing, a folder, not a regular file, or unreadable (the message names the path;
    `errno` is the operating system's, where it gave one)."""


class WriteError(SqueezeBertError, OSError):
    """A file could not be written (a folder that is missing or not writable, a full disk): the message names the
    file and the system's reason; `errno` is the system's. Nothing partial is left behind."""
