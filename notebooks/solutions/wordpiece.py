"""Solution to the exercise in 01_tokenization: WordPiece, greedy longest-match-first."""


def wordpiece(word, vocab):  # str, {piece: id} -> list of str
    if len(word) > 100:                                    # transformers' max_input_chars_per_word
        return ["[UNK]"]
    tokens, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):            # the longest piece first
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
        else:                                              # nothing matches here: the whole word is unknown
            return ["[UNK]"]
        tokens.append(piece)
        start = end
    return tokens
