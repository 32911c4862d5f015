def total(xs):
    s = 0
    for i in range(len(xs)):
        s += xs[i]
    return s


def mean(xs):
    if not xs:
        return 0.0
    return total(xs) / len(xs)


def count_words(text):
    counts = {}
    for word in text.split():
        
    return counts


if __name__ == "__main__":
    print(total([1, 2, 3]), mean([1, 2, 3]))
    print(count_words("a b a"))
