"""Step splitting, final-answer extraction and answer grading (math-verify), and the policy
prompt. Depends only on ``schemas`` (and math-verify); every other layer grades through here."""
