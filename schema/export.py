"""Print the schema as SDL: `python -m schema.export > schema.graphql` (make schema)."""
from schema import schema

if __name__ == "__main__":
    print(schema.as_str())
