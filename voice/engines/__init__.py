"""The models every call shares, loaded once per process: speech to text, the language
model, text to speech, sentence embeddings, where packaged weights live, and the business
resources opened at start-up."""
