"""Prompt hygiene: decode bytes, drop control characters, refuse empty prompts, fit the context."""

from __future__ import annotations

import unicodedata
import warnings


class EmptyPromptError(ValueError):
    """The prompt holds no text (after removing control characters and whitespace)."""


class PromptWarning(UserWarning):
    """The prompt was changed to be usable (bytes replaced, control characters removed, truncated)."""


def clean_prompt(prompt: str | bytes) -> str:
    """A usable prompt: bytes decoded as UTF-8 (invalid bytes replaced, with a warning), control
    characters other than newline and tab removed (with a warning). Raises :class:`EmptyPromptError`.
    """
    if isinstance(prompt, (bytes, bytearray)):
        text = bytes(prompt).decode("utf-8", errors="replace")
        if "\ufffd" in text and b"\xef\xbf\xbd" not in prompt:
            warnings.warn("the prompt is not valid UTF-8; invalid bytes were replaced by U+FFFD", PromptWarning, stacklevel=2)
        prompt = text
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be str or bytes, not {type(prompt).__name__}")
    cleaned = "".join(ch for ch in prompt if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))
    if cleaned != prompt:
        warnings.warn(f"removed {len(prompt) - len(cleaned)} control character(s) from the prompt", PromptWarning, stacklevel=2)
    if not cleaned.strip():
        raise EmptyPromptError("the prompt is empty (nothing left after removing whitespace and control characters)")
    return cleaned


def fit_context(ids: list[int], context_length: int, max_new_tokens: int) -> list[int]:
    """Keep the last tokens of a prompt so that at least ``min(max_new_tokens, context/2)`` new
    tokens fit in the context; warns when it truncates (generation then slides the window).
    """
    room = max(1, context_length - min(max_new_tokens, context_length // 2))
    if len(ids) <= room:
        return ids
    warnings.warn(f"the prompt has {len(ids)} tokens; the model's context is {context_length}: kept the last {room}", PromptWarning, stacklevel=2)
    return ids[-room:]
