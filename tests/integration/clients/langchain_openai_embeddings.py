"""Embeds through veil with LangChain's OpenAIEmbeddings and prints the vectors.

Run with the interpreter of the clients' own environment (`./dev test` builds it).
Usage: python langchain_openai_embeddings.py BASE_URL KEY MODEL. Prints one JSON object.
`check_embedding_ctx_length=False` sends the texts as text: its default tokenizes them
first with tiktoken, which downloads its encodings, and a model other than OpenAI's own
reads different tokens anyway.
"""

import json
import sys

from langchain_openai import OpenAIEmbeddings


def main(base_url: str, key: str, model: str) -> dict:
    embeddings = OpenAIEmbeddings(
        model=model,
        api_key=key,
        base_url=base_url,
        max_retries=0,
        check_embedding_ctx_length=False,
    )
    return {
        "query": embeddings.embed_query("what is veil?"),
        "documents": embeddings.embed_documents(["a first document", "a second document"]),
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
